import Foundation

/// A shared library opened at run time with `dlopen`, and the file it came from. Nothing CUDA is
/// linked: the tool builds, tests and runs `--cpu` where CUDA is absent.
public final class SharedLibrary: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    /// The file the loader opened (resolved through `dladdr`), e.g. `/usr/local/cuda/lib64/libcublas.so.13`.
    public let path: String

    private init(handle: UnsafeMutableRawPointer, path: String) {
        self.handle = handle
        self.path = path
    }

    /// The first of `candidates` that loads (bare names go through the loader's own search).
    ///
    /// - Throws: `DeviceError.libraryMissing` naming what was tried, and the loader's last error.
    static func open(_ candidates: [String], name: String, probe symbol: String) throws -> SharedLibrary {
        var tried: [String] = []
        for candidate in candidates {
            if candidate.contains("/"), !FileManager.default.fileExists(atPath: candidate) { continue }
            tried.append(candidate)
            guard let handle = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) else { continue }
            let file = dlsym(handle, symbol).flatMap { mappedFile(containing: UInt(bitPattern: $0)) }
            return SharedLibrary(handle: handle, path: file ?? candidate)
        }
        let reason = dlerror().map { String(cString: $0) }
        throw DeviceError.libraryMissing(name: name, tried: tried.isEmpty ? candidates : tried + (reason.map { ["last error: \($0)"] } ?? []))
    }

    /// The file mapped at `address` in this process (`/proc/self/maps`): where a symbol really came from.
    private static func mappedFile(containing address: UInt) -> String? {
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return nil }
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, let dash = fields[0].firstIndex(of: "-"),
                  let start = UInt(fields[0][..<dash], radix: 16), let end = UInt(fields[0][fields[0].index(after: dash)...], radix: 16),
                  start <= address, address < end else { continue }
            return fields[5...].joined(separator: " ")
        }
        return nil
    }

    /// The C function `name`, typed.
    ///
    /// - Throws: `DeviceError.call` when the library lacks it.
    func function<T>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let pointer = dlsym(handle, name) else {
            throw DeviceError.call("dlsym", status: "missing symbol", detail: "\(name) in \(path)")
        }
        return unsafeBitCast(pointer, to: T.self)
    }
}

/// Where the CUDA libraries are looked for, in order: the bare name (the loader's cache and
/// `LD_LIBRARY_PATH`), `$CUDA_HOME/lib64`, `/usr/local/cuda/lib64`,
/// `/usr/local/cuda/targets/x86_64-linux/lib`, then the folders of `--cuda-libs` /
/// `PEERTUBE_UPDATER_CUDA_LIBS` (colon-separated), then what `make gpu-deps` installs:
/// `cuda-libs/` in the current folder and `lib/peertube-updater/cuda` beside the binary's folder.
/// A folder may hold the libraries directly or as pip installs the NVIDIA wheels
/// (`nvidia/cu13/lib`, `nvidia/cublas/lib`, …).
public struct CUDALibraries: Sendable {
    /// Folders given by flag or environment, searched after the system's.
    public var extraFolders: [String]

    public static let environmentVariable = "PEERTUBE_UPDATER_CUDA_LIBS"

    public init(extraFolders: [String] = [], environment: [String: String] = ProcessInfo.processInfo.environment) {
        let fromEnvironment = environment[Self.environmentVariable].map { $0.split(separator: ":").map(String.init) } ?? []
        self.extraFolders = extraFolders + fromEnvironment
        cudaHome = environment["CUDA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
    }

    private let cudaHome: String?

    /// The library majors tried, newest first (a CUDA 13 driver runs CUDA 12 libraries too).
    static let majors = [13, 12]

    /// Every path to try for the library `stem` (`libcublas`, `libnvrtc`), by major, in search order.
    func candidates(_ stem: String) -> [String] {
        let system = [cudaHome.map { "\($0)/lib64" }, "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"].compactMap { $0 }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        let installed = ["cuda-libs", executable.deletingLastPathComponent().appendingPathComponent("lib/peertube-updater/cuda").path]
        let folders = system + (extraFolders + installed).flatMap(Self.expanded)
        return Self.majors.flatMap { major in
            let soname = "\(stem).so.\(major)"
            return [soname] + folders.map { "\($0)/\(soname)" }
        }
    }

    /// A folder and where pip puts the NVIDIA wheels' libraries inside it.
    static func expanded(_ folder: String) -> [String] {
        [folder, "\(folder)/lib", "\(folder)/lib64"]
            + ["cu13", "cu12", "cublas", "cuda_nvrtc"].map { "\(folder)/nvidia/\($0)/lib" }
    }

    public func cuBLAS() throws -> SharedLibrary {
        try SharedLibrary.open(candidates("libcublas"), name: "cuBLAS (libcublas.so.13 or .12)", probe: "cublasCreate_v2")
    }

    /// NVRTC, with its builtins library loaded first from the same folder (NVRTC opens it by name,
    /// and a folder outside the loader's path would not be searched).
    public func nvrtc() throws -> SharedLibrary {
        for candidate in candidates("libnvrtc") where candidate.contains("/") && FileManager.default.fileExists(atPath: candidate) {
            let folder = (candidate as NSString).deletingLastPathComponent
            let builtins = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
                .filter { $0.hasPrefix("libnvrtc-builtins.so.") }.sorted()
            for file in builtins { _ = dlopen("\(folder)/\(file)", RTLD_NOW | RTLD_GLOBAL) }
            break
        }
        return try SharedLibrary.open(candidates("libnvrtc"), name: "NVRTC (libnvrtc.so.13 or .12)", probe: "nvrtcVersion")
    }

    /// The driver: only ever the system's (`libcuda.so.1` by name, then the usual driver folders).
    public static func driver() throws -> SharedLibrary {
        try SharedLibrary.open(["libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1",
                                "/usr/local/nvidia/lib64/libcuda.so.1"],
                               name: "the CUDA driver (libcuda.so.1)", probe: "cuInit")
    }
}
