import ArgumentParser
import PeerTubeUpdater

struct DeviceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Say which compute devices this build can use (CPU BLAS, CUDA).",
        discussion: "With --require-gpu, exits 1 with the reason when --gpu runs would fail (make smoke-gpu checks this first)."
    )

    @Flag(name: .customLong("require-gpu"), help: "Fail unless a usable CUDA device is present.")
    var requireGPU = false
    @Flag(name: .customLong("blas-core"), help: "Print only the OpenBLAS core this process uses (after any restart with OPENBLAS_CORETYPE), for scripts.")
    var blasCore = false

    func run() throws {
        if blasCore {
            print(BLASCore.current)
            return
        }
        print("cpu: \(FaissIndex.blasDescription)")
        let probe = CUDAProbe.probe()
        print("cuda: \(probe.summary)")
        for stage in GPUStages.Stage.allCases {
            print("gpu \(stage.rawValue): \(GPUStages.unavailability(of: stage, probe: probe).map { "unavailable: \($0)" } ?? "usable")")
        }
        if requireGPU { try GPUStages.require() }
    }
}
