import ArgumentParser
import Foundation
import PeerTubeUpdater

extension ComputeDevice: EnumerableFlag {
    public static func help(for value: ComputeDevice) -> ArgumentHelp? {
        switch value {
        case .gpu: "GPU: embeddings (device=cuda) and the ANN build (mode=gpu) on a CUDA device, no CPU fallback."
        case .cpu: "CPU only (device=cpu, mode=cpu)."
        }
    }
}

extension GEMMPrecision: ExpressibleByArgument {}

/// `--cpu` / `--gpu` with the GPU's settings: one option group for every command that chooses a
/// device (the worker, the stage commands, `device`, the smoke suite). Each says its own default.
public struct DeviceOptions: ParsableArguments, Sendable {
    @Flag public var device: ComputeDevice?

    @Option(name: .customLong("gpu-precision"),
            help: ArgumentHelp("The embeddings' and the ANN build's GEMMs on the GPU: fp32 (exact), or tf32 (tensor cores, ~2.6e-4 relative error per product; check `device --self-test` first). The similarity search is always fp32.", valueName: "fp32|tf32"))
    public var gpuPrecision: GEMMPrecision = .fp32

    @Option(name: .customLong("cuda-libs"),
            help: ArgumentHelp("A folder holding cuBLAS and NVRTC (e.g. what `make gpu-deps` installs), searched after the system's. Also $PEERTUBE_UPDATER_CUDA_LIBS.", valueName: "path"))
    public var cudaLibs: String?

    public init() {}

    /// The flag given, else `fallback`. A `--cuda-libs` folder joins the CUDA library search from here
    /// on, for this process and the workers it starts (through `PEERTUBE_UPDATER_CUDA_LIBS`).
    public func resolved(default fallback: ComputeDevice) -> ComputeDevice {
        if let cudaLibs {
            let folder = URL(fileURLWithPath: cudaLibs).standardizedFileURL.path
            let existing = ProcessInfo.processInfo.environment[CUDALibraries.environmentVariable].map { ":" + $0 } ?? ""
            setenv(CUDALibraries.environmentVariable, folder + existing, 1)
        }
        return device ?? fallback
    }
}
