import Foundation

/// `--gpu` was asked for and no CUDA device can serve it. There is no CPU fallback: the operator
/// chose the device, so the run stops before any work.
public struct GPUUnavailable: Error, CustomStringConvertible, Equatable {
    public var reason: String
    public var description: String {
        "--gpu needs a usable CUDA device, and there is no CPU fallback: \(reason); run with --cpu (make smoke-cpu)"
    }
}

/// Whether this process can run the GPU stages. The CUDA driver is loaded at run time (dlopen), so
/// the tool builds and runs on machines without it.
public enum CUDADevice {
    public enum Availability: Equatable, Sendable {
        case usable(name: String)
        case unavailable(reason: String)
    }

    public static func availability() -> Availability {
        guard let driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL) else {
            return .unavailable(reason: "the CUDA driver (libcuda.so.1) is not installed on this machine")
        }
        defer { dlclose(driver) }
        typealias CUInit = @convention(c) (UInt32) -> Int32
        typealias CUDeviceGetCount = @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
        guard let initSymbol = dlsym(driver, "cuInit"), let countSymbol = dlsym(driver, "cuDeviceGetCount") else {
            return .unavailable(reason: "libcuda.so.1 lacks cuInit/cuDeviceGetCount")
        }
        let status = unsafeBitCast(initSymbol, to: CUInit.self)(0)
        guard status == 0 else { return .unavailable(reason: "cuInit failed with CUDA error \(status) (no device, or the driver does not match the kernel module)") }
        var count: Int32 = 0
        guard unsafeBitCast(countSymbol, to: CUDeviceGetCount.self)(&count) == 0, count > 0 else {
            return .unavailable(reason: "the CUDA driver reports no device")
        }
        // The kernels themselves are not in this build yet: a present device is still not usable.
        return .unavailable(reason: "\(count) CUDA device(s) found, but this build has no CUDA kernels for the embeddings and ANN stages yet")
    }

    public static var isUsable: Bool {
        if case .usable = availability() { return true }
        return false
    }

    /// Throws `GPUUnavailable` unless a CUDA device can serve the GPU stages.
    public static func require() throws {
        if case .unavailable(let reason) = availability() { throw GPUUnavailable(reason: reason) }
    }
}
