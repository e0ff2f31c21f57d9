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

    func run() throws {
        print("cpu: \(FaissIndex.blasDescription)")
        switch CUDADevice.availability() {
        case .usable(let name): print("cuda: usable (\(name))")
        case .unavailable(let reason): print("cuda: unavailable: \(reason)")
        }
        if requireGPU { try CUDADevice.require() }
    }
}
