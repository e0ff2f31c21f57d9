import ArgumentParser
import PeerTubeUpdater

extension ComputeDevice: EnumerableFlag {
    public static func help(for value: ComputeDevice) -> ArgumentHelp? {
        switch value {
        case .gpu: "GPU: embeddings (device=cuda) and the ANN build (mode=gpu) on a CUDA device, no CPU fallback."
        case .cpu: "CPU only (device=cpu, mode=cpu)."
        }
    }
}

/// `--cpu` / `--gpu`: one option group for every command that chooses a device (the worker, the stage
/// commands, the smoke suite). Each says its own default.
public struct DeviceOptions: ParsableArguments, Sendable {
    @Flag public var device: ComputeDevice?

    public init() {}

    /// The flag given, else `fallback`.
    public func resolved(default fallback: ComputeDevice) -> ComputeDevice { device ?? fallback }
}
