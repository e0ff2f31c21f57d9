import ArgumentParser
import Foundation
import PeerTubeUpdater
import SmokeHarness

struct DeviceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Say which compute devices this build can use (CPU BLAS, CUDA), and test a GPU.",
        discussion: """
            Lists the BLAS and its kernels, the CUDA driver and devices, each CUDA library file loaded \
            (cuBLAS, NVRTC) with its version, and which GPU stages can run here. CUDA libraries are \
            looked for by name, then in $CUDA_HOME/lib64, /usr/local/cuda/lib64, \
            /usr/local/cuda/targets/x86_64-linux/lib, --cuda-libs / $PEERTUBE_UPDATER_CUDA_LIBS, then \
            cuda-libs/ (what `make gpu-deps` installs).

            --self-test runs every kernel and GEMM shape of the GPU pipeline on the GPU against its host \
            reference on fresh random inputs (one line each: SELFTEST <op>: PASS|FAIL max_rel_err=… ms=…), \
            then, with a model, the embedding pipeline against the CPU path (min cosine) and its \
            texts/s. Exits 1 on any FAIL.
            """
    )

    @Flag(name: .customLong("require-gpu"), help: "Fail unless a usable CUDA device is present (make smoke-gpu checks this first).")
    var requireGPU = false
    @Flag(name: .customLong("blas-core"), help: "Print only the OpenBLAS core this process uses (after any restart with OPENBLAS_CORETYPE), for scripts.")
    var blasCore = false
    @Flag(name: .customLong("driver-cuda-major"), help: "Print only the CUDA major version the driver supports (13), for scripts; exit 1 without a driver.")
    var driverCUDAMajor = false
    @Flag(name: .customLong("self-test"), help: "Test every kernel on the GPU against its host reference, then the embedding pipeline against the CPU.")
    var selfTest = false
    @Option(name: .customLong("texts"), help: ArgumentHelp("Self-test: a JSON list of texts for the pipeline check (default: TestResources/embeddings/texts.json, repeated).", valueName: "path"))
    var texts: String?
    @Option(name: .customLong("count"), help: "Self-test: texts compared with the CPU path.")
    var count = 1_000
    @OptionGroup var gpu: DeviceOptions
    @OptionGroup var model: ModelOptions

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be > 0") }
    }

    func run() throws {
        _ = gpu.resolved(default: .gpu)
        if blasCore {
            print(BLASCore.current)
            return
        }
        let probe = CUDAProbe.probe()
        if driverCUDAMajor {
            guard let version = probe.driverVersion else { throw ExitCode.failure }
            print(version / 1000)
            return
        }
        print("cpu: \(FaissIndex.blasDescription)")
        print("cuda: \(probe.summary)")
        for library in probe.libraries {
            print("cuda library \(library.name): \(library.found ?? "not found (\(library.problem ?? "?"))")")
        }
        for stage in GPUStages.Stage.allCases {
            print("gpu \(stage.rawValue): \(GPUStages.unavailability(of: stage, probe: probe).map { "unavailable: \($0)" } ?? "usable")")
        }
        if selfTest { try runSelfTest() }
        if requireGPU { try GPUStages.require() }
    }

    private func runSelfTest() throws {
        let device = try CUDADevice.open(precision: gpu.gpuPrecision)
        print("device: \(device.name); kernels \(device.architecture) \(device.kernelsCached ? "from the cache" : "compiled") in \(device.kernelsLoadMs) ms")
        for library in device.libraries { print("loaded: \(library)") }
        var failed = 0
        for line in try DeviceSelfTest.kernels(on: device) {
            print(line.text)
            if !line.passed { failed += 1 }
        }
        fflush(nil)
        if let pipeline = try pipelineCheck(device) {
            for line in pipeline { print(line.text) }
            failed += pipeline.filter { !$0.passed }.count
        } else {
            print("SELFTEST embeddings: SKIP no model in \(model.directory) (make model, or --model-dir)")
        }
        guard failed == 0 else { throw ValidationError("\(failed) self-test line(s) FAIL") }
    }

    /// The embedding pipeline on the device against the CPU path on `count` texts, and its speed on
    /// a stage-sized batch; nil without a model.
    private func pipelineCheck(_ device: CUDADevice) throws -> [DeviceSelfTest.Line]? {
        guard (try? ModelFiles(directory: model.directory)) != nil else { return nil }
        let source = texts ?? "TestResources/embeddings/texts.json"
        let list = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: source)))
        guard !list.isEmpty else { throw ValidationError("\(source) holds no text") }
        let sample = (0..<count).map { list[$0 % list.count] }
        let onDevice = try SentenceEmbedder(modelDirectory: model.directory, on: device, threads: model.threads)
        let cpu = try SentenceEmbedder(modelDirectory: model.directory, device: .cpu, threads: model.threads)
        let clock = ContinuousClock.now
        let expected = try cpu.embed(sample)
        let cpuSeconds = clock.elapsedSeconds
        let got = try onDevice.embed(sample)
        let cosines = zip(expected, got).map { zip($0, $1).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
        let worst = Double(cosines.min() ?? 0)
        let agreement = DeviceSelfTest.Line(op: "embeddings_vs_cpu", passed: worst >= 0.9999, maxRelativeError: 1 - worst,
                                            milliseconds: 0, detail: "min_cosine=\(String(format: "%.7f", worst)) texts=\(count) cpu_s=\(String(format: "%.1f", cpuSeconds))")
        // Speed: a stage-sized page, after a warm-up.
        let page = (0..<onDevice.preferredBatchSize * 4).map { list[$0 % list.count] }
        _ = try onDevice.embed(Array(page.prefix(64)))
        let timed = ContinuousClock.now
        _ = try onDevice.embed(page)
        let seconds = timed.elapsedSeconds
        let speed = DeviceSelfTest.Line(op: "embeddings_throughput", passed: true, maxRelativeError: 0, milliseconds: seconds * 1000,
                                        detail: "texts_per_s=\(Int(Double(page.count) / seconds)) texts=\(page.count)")
        return [agreement, speed]
    }
}
