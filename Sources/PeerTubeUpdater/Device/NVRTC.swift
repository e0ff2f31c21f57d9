import Foundation

/// NVRTC, CUDA's run-time compiler, loaded with `dlopen`: CUDA C++ source to a cubin for one GPU
/// architecture. It needs no GPU, so `make test` compiles every kernel with it for sm_80 and sm_90.
public final class NVRTC: @unchecked Sendable {
    private typealias Version = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32
    private typealias Create = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>, Int32,
                                               UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    private typealias Compile = @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    private typealias Size = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Int32
    private typealias Copy = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Int32
    private typealias Destroy = @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    private typealias ErrorString = @convention(c) (Int32) -> UnsafePointer<CChar>?

    let library: SharedLibrary
    /// e.g. (13, 0).
    public let version: (major: Int, minor: Int)
    private let create: Create, compileProgram: Compile, logSize: Size, log: Copy, cubinSize: Size, cubin: Copy
    private let destroy: Destroy, errorString: ErrorString

    /// The file loaded, for `peertube-updater device`.
    public var path: String { library.path }

    /// - Throws: `DeviceError.libraryMissing` when no NVRTC loads (the folders tried), `.call` for a
    ///   library without the expected functions.
    public init(libraries: CUDALibraries = CUDALibraries()) throws {
        library = try libraries.nvrtc()
        create = try library.function("nvrtcCreateProgram")
        compileProgram = try library.function("nvrtcCompileProgram")
        logSize = try library.function("nvrtcGetProgramLogSize")
        log = try library.function("nvrtcGetProgramLog")
        cubinSize = try library.function("nvrtcGetCUBINSize")
        cubin = try library.function("nvrtcGetCUBIN")
        destroy = try library.function("nvrtcDestroyProgram")
        errorString = try library.function("nvrtcGetErrorString")
        var major: Int32 = 0, minor: Int32 = 0
        _ = (try library.function("nvrtcVersion", as: Version.self))(&major, &minor)
        version = (Int(major), Int(minor))
    }

    /// `source` compiled to a cubin for `architecture` (`sm_90`).
    ///
    /// - Throws: `DeviceError.compile` with NVRTC's log when the source does not compile, `.call` for
    ///   another NVRTC failure.
    public func cubin(_ source: String, name: String = "kernels.cu", architecture: String) throws -> [UInt8] {
        var program: OpaquePointer?
        try check(source.withCString { text in name.withCString { create(&program, text, $0, 0, nil, nil) } }, "nvrtcCreateProgram")
        defer { _ = destroy(&program) }
        let options = ["--gpu-architecture=\(architecture)", "--std=c++17"]
        let pointers = options.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        let status = pointers.map { UnsafePointer($0) }.withUnsafeBufferPointer { compileProgram(program, Int32(options.count), $0.baseAddress) }
        guard status == 0 else {
            var size = 0
            _ = logSize(program, &size)
            var text = [CChar](repeating: 0, count: max(size, 1))
            _ = log(program, &text)
            throw DeviceError.compile(log: "\(architecture), \(describe(status)): " + String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        var size = 0
        try check(cubinSize(program, &size), "nvrtcGetCUBINSize")
        var bytes = [CChar](repeating: 0, count: size)
        try check(cubin(program, &bytes), "nvrtcGetCUBIN")
        return bytes.map { UInt8(bitPattern: $0) }
    }

    private func describe(_ status: Int32) -> String { errorString(status).map { String(cString: $0) } ?? "NVRTC error \(status)" }

    private func check(_ status: Int32, _ call: String) throws {
        guard status == 0 else { throw DeviceError.call(call, status: describe(status)) }
    }
}

/// Compiled kernels kept on disk, so each machine compiles a source once per architecture and
/// NVRTC version: `<folder>/kernels-<source hash>-<arch>-nvrtc<major>.<minor>.cubin`. The folder is
/// `$PEERTUBE_UPDATER_CACHE_DIR`, else `$XDG_CACHE_HOME/peertube-updater`, else
/// `~/.cache/peertube-updater`; a cache that cannot be written only costs the compile.
public struct KernelCache: Sendable {
    public let folder: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let folder = environment["PEERTUBE_UPDATER_CACHE_DIR"], !folder.isEmpty {
            self.folder = folder
        } else if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            self.folder = xdg + "/peertube-updater"
        } else {
            self.folder = (environment["HOME"] ?? NSTemporaryDirectory()) + "/.cache/peertube-updater"
        }
    }

    public func path(source: String, architecture: String, nvrtc: NVRTC) -> String {
        "\(folder)/kernels-\(FNV1a64.hex(Data(source.utf8)))-\(architecture)-nvrtc\(nvrtc.version.major).\(nvrtc.version.minor).cubin"
    }

    /// The cached cubin, else a fresh compile (stored for next time); whether it came from the cache.
    ///
    /// - Throws: what `NVRTC.cubin` throws.
    public func cubin(source: String, architecture: String, nvrtc: NVRTC) throws -> (bytes: [UInt8], cached: Bool) {
        let file = path(source: source, architecture: architecture, nvrtc: nvrtc)
        if let data = FileManager.default.contents(atPath: file), !data.isEmpty { return ([UInt8](data), true) }
        let bytes = try nvrtc.cubin(source, architecture: architecture)
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = file + ".\(getpid()).tmp"
        if FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) { rename(temporary, file) }
        return (bytes, false)
    }
}
