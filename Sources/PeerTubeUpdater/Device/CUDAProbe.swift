import Foundation

/// Facts about this machine's CUDA driver and devices, read at run time through `dlopen`, so the
/// tool builds and runs where CUDA is absent. The probe decides nothing: whether a device can serve a
/// stage is for that stage to say (`GPUStages`).
public enum CUDAProbe {
    public struct Device: Sendable, Equatable {
        public var index: Int
        public var name: String
        public var memoryBytes: Int
    }

    public struct Report: Sendable, Equatable {
        /// The driver library that was loaded (nil: none could be).
        public var driverLibrary: String?
        /// `cuDriverGetVersion`, e.g. 13000 for CUDA 13.0.
        public var driverVersion: Int?
        public var devices: [Device] = []
        /// Why the probe stopped short (no driver, `cuInit` failed, …).
        public var problem: String?
        /// cuBLAS and NVRTC: the file each loaded from (with its version), or why none did.
        public var libraries: [(name: String, found: String?, problem: String?)] = []

        /// Why the GPU stages cannot run here though a device may be present: a library that did not load.
        public var libraryProblem: String? { libraries.first { $0.found == nil }.map { "\($0.name): \($0.problem ?? "not found")" } }

        public static func == (a: Report, b: Report) -> Bool {
            a.driverLibrary == b.driverLibrary && a.driverVersion == b.driverVersion && a.devices == b.devices && a.problem == b.problem
                && a.libraries.map(\.name) == b.libraries.map(\.name) && a.libraries.map(\.found) == b.libraries.map(\.found)
        }

        /// One line for logs and `peertube-updater device`.
        public var summary: String {
            if let problem { return "no CUDA device: \(problem)" }
            let version = driverVersion.map { " \($0 / 1000).\($0 % 1000 / 10)" } ?? ""
            let list = devices.map { "#\($0.index) \($0.name) (\($0.memoryBytes >> 30) GiB)" }.joined(separator: ", ")
            return "CUDA driver\(version) (\(driverLibrary ?? "?")): \(devices.count) device(s): \(list)"
        }
    }

    /// Loads the driver by its bare name (the loader's path), then from the usual install folders,
    /// lists the devices, and looks for cuBLAS and NVRTC (`CUDALibraries`' search order).
    public static func probe(libraries: CUDALibraries = CUDALibraries()) -> Report {
        var report = Report()
        let loaders: [(String, () throws -> String)] = [
            ("cuBLAS", { try libraries.cuBLAS().path }),
            ("NVRTC", { let nvrtc = try NVRTC(libraries: libraries); return "\(nvrtc.path) (version \(nvrtc.version.major).\(nvrtc.version.minor))" }),
        ]
        for (name, load) in loaders {
            do { report.libraries.append((name, try load(), nil)) } catch { report.libraries.append((name, nil, "\(error)")) }
        }
        guard let opened = try? CUDALibraries.driver() else {
            report.problem = "the CUDA driver (libcuda.so.1) is not installed on this machine"
            return report
        }
        let driver = opened.handle
        report.driverLibrary = opened.path
        typealias CUInit = @convention(c) (UInt32) -> Int32
        typealias CUInt = @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
        typealias CUDeviceGet = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
        typealias CUDeviceGetName = @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> Int32
        typealias CUDeviceTotalMem = @convention(c) (UnsafeMutablePointer<Int>, Int32) -> Int32
        func symbol<T>(_ name: String, as: T.Type) -> T? { dlsym(driver, name).map { unsafeBitCast($0, to: T.self) } }
        guard let cuInit = symbol("cuInit", as: CUInit.self), let getCount = symbol("cuDeviceGetCount", as: CUInt.self) else {
            report.problem = "\(opened.path) lacks cuInit/cuDeviceGetCount"
            return report
        }
        let status = cuInit(0)
        guard status == 0 else {
            report.problem = "cuInit failed with CUDA error \(status) (no device, or the driver does not match the kernel module)"
            return report
        }
        var version: Int32 = 0
        if let getVersion = symbol("cuDriverGetVersion", as: CUInt.self), getVersion(&version) == 0 { report.driverVersion = Int(version) }
        var count: Int32 = 0
        guard getCount(&count) == 0, count > 0 else {
            report.problem = "the CUDA driver reports no device"
            return report
        }
        let getDevice = symbol("cuDeviceGet", as: CUDeviceGet.self)
        let getName = symbol("cuDeviceGetName", as: CUDeviceGetName.self)
        let totalMem = symbol("cuDeviceTotalMem_v2", as: CUDeviceTotalMem.self)
        for index in 0..<count {
            var handle: Int32 = 0
            var name = [CChar](repeating: 0, count: 256)
            var memory = 0
            if let getDevice, getDevice(&handle, index) == 0 {
                _ = getName?(&name, Int32(name.count), handle)
                _ = totalMem?(&memory, handle)
            }
            report.devices.append(Device(index: Int(index), name: String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                                         memoryBytes: memory))
        }
        return report
    }
}

/// `--gpu` was asked for and no CUDA device can serve a GPU stage. There is no CPU fallback: the
/// operator chose the device, so the run stops before any work.
public struct GPUUnavailable: Error, CustomStringConvertible, Equatable {
    public var reason: String
    public var description: String { "--gpu needs a usable CUDA device, and there is no CPU fallback: \(reason)" }
}

/// Whether the GPU stages can run here, decided by the stages this build has.
public enum GPUStages {
    /// The stages `--gpu` puts on a CUDA device.
    public enum Stage: String, Sendable, CaseIterable {
        case embeddings
        case annBuild = "ANN build"
        case similarity
    }

    /// nil when `stage` can run on this machine's GPU (a device, cuBLAS and NVRTC load), else why not.
    /// Every stage needs the same three, so today the answer is the same for all of them.
    public static func unavailability(of stage: Stage, probe: CUDAProbe.Report = CUDAProbe.probe()) -> String? {
        if let problem = probe.problem { return problem }
        if let problem = probe.libraryProblem { return "\(problem); `make gpu-deps` installs the CUDA libraries from PyPI" }
        return nil
    }

    /// True when every GPU stage can run here.
    public static var usable: Bool {
        let probe = CUDAProbe.probe()
        return Stage.allCases.allSatisfy { unavailability(of: $0, probe: probe) == nil }
    }

    /// - Throws: `GPUUnavailable` unless every stage of `stages` can run on this machine's GPU.
    public static func require(_ stages: [Stage] = Stage.allCases) throws {
        let probe = CUDAProbe.probe()
        for stage in stages {
            if let reason = unavailability(of: stage, probe: probe) { throw GPUUnavailable(reason: reason) }
        }
    }
}
