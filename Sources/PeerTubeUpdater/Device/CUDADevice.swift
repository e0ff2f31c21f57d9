import Foundation

/// A CUDA GPU as a `TensorDevice`: the driver API for memory, copies and launches, cuBLAS for the
/// GEMMs, and the kernels of `kernels.cu` compiled by NVRTC for this device's compute capability
/// (cached on disk, `KernelCache`). All work goes on one stream in order; `download` and
/// `synchronize` wait for it. Calls are serialised, and each makes the device's primary context
/// current on its thread first (Swift tasks move between threads).
public final class CUDADevice: TensorDevice, @unchecked Sendable {
    public let name: String
    public let embeddingsMarker = "cuda"
    public let precision: GEMMPrecision
    /// What was loaded, for `peertube-updater device` and the log: driver, cuBLAS and NVRTC files with versions.
    public let libraries: [String]
    /// e.g. `sm_90`.
    public let architecture: String
    /// Whether the kernels came from the on-disk cache, and how long loading them took.
    public let kernelsCached: Bool
    public let kernelsLoadMs: Int

    private let driver: CUDADriver
    private let blas: CUBLAS
    private let context: OpaquePointer?
    private let stream: OpaquePointer?
    private let handle: OpaquePointer?
    private let functions: [Kernel: OpaquePointer?]
    private let lock = NSLock()

    /// Opens device `index`: context, stream, cuBLAS handle in `precision`'s math mode, and the
    /// kernels (compiled or from the cache).
    ///
    /// - Throws: `GPUUnavailable` when no driver or device is there, `DeviceError` when a library is
    ///   missing or a call fails.
    public static func open(index: Int = 0, precision: GEMMPrecision = .fp32, libraries: CUDALibraries = CUDALibraries(),
                            cache: KernelCache = KernelCache()) throws -> CUDADevice {
        try CUDADevice(index: index, precision: precision, search: libraries, cache: cache)
    }

    private init(index: Int, precision: GEMMPrecision, search: CUDALibraries, cache: KernelCache) throws {
        let driver: CUDADriver
        do { driver = try CUDADriver() } catch { throw GPUUnavailable(reason: "\(error)") }
        let initialized = driver.initialize(0)
        guard initialized == 0 else { throw GPUUnavailable(reason: "cuInit: \(driver.name(of: initialized)) (no device, or the driver does not match the kernel module)") }
        var count: Int32 = 0
        try driver.check(driver.deviceCount(&count), "cuDeviceGetCount")
        guard index < count else { throw GPUUnavailable(reason: "CUDA device \(index) asked for, the driver reports \(count)") }
        var device: Int32 = 0
        try driver.check(driver.deviceGet(&device, Int32(index)), "cuDeviceGet", "device \(index)")
        var nameBytes = [CChar](repeating: 0, count: 256)
        try driver.check(driver.deviceName(&nameBytes, Int32(nameBytes.count), device), "cuDeviceGetName")
        var total = 0, major: Int32 = 0, minor: Int32 = 0, version: Int32 = 0
        try driver.check(driver.deviceTotalMemory(&total, device), "cuDeviceTotalMem")
        try driver.check(driver.deviceAttribute(&major, CUDADriver.computeCapabilityMajor, device), "cuDeviceGetAttribute", "compute capability")
        try driver.check(driver.deviceAttribute(&minor, CUDADriver.computeCapabilityMinor, device), "cuDeviceGetAttribute", "compute capability")
        _ = driver.driverVersion(&version)
        var context: OpaquePointer?
        try driver.check(driver.primaryContextRetain(&context, device), "cuDevicePrimaryCtxRetain")
        try driver.check(driver.contextSetCurrent(context), "cuCtxSetCurrent")
        var stream: OpaquePointer?
        try driver.check(driver.streamCreate(&stream, 0), "cuStreamCreate")

        let blas = try CUBLAS(libraries: search)
        var handle: OpaquePointer?
        try blas.check(blas.create(&handle), "cublasCreate")
        try blas.check(blas.setStream(handle, stream), "cublasSetStream")
        try blas.check(blas.setMathMode(handle, precision == .tf32 ? CUBLAS.tf32Math : CUBLAS.defaultMath), "cublasSetMathMode", precision.rawValue)
        var blasVersion: Int32 = 0
        _ = blas.getVersion(handle, &blasVersion)

        let nvrtc = try NVRTC(libraries: search)
        let architecture = "sm_\(major)\(minor)"
        self.architecture = architecture
        let clock = ContinuousClock.now
        let (cubin, cached) = try cache.cubin(source: Kernel.source, architecture: architecture, nvrtc: nvrtc)
        var module: OpaquePointer?
        try cubin.withUnsafeBytes { try driver.check(driver.moduleLoad(&module, $0.baseAddress!), "cuModuleLoadData", "\(architecture) cubin, \(cubin.count) bytes") }
        var functions: [Kernel: OpaquePointer?] = [:]
        for kernel in Kernel.allCases {
            var function: OpaquePointer?
            try driver.check(driver.moduleFunction(&function, module, kernel.rawValue), "cuModuleGetFunction", kernel.rawValue)
            functions[kernel] = function
        }
        kernelsLoadMs = clock.elapsedMilliseconds
        kernelsCached = cached

        let deviceName = String(decoding: nameBytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        name = "cuda:\(index) \(deviceName) (\(architecture), \(total >> 30) GiB, \(precision.rawValue))"
        libraries = ["driver \(driver.library.path) (CUDA \(version / 1000).\(version % 1000 / 10))",
                     "cuBLAS \(blas.library.path) (version \(blasVersion))",
                     "NVRTC \(nvrtc.path) (version \(nvrtc.version.major).\(nvrtc.version.minor))"]
        (self.driver, self.blas, self.context, self.stream, self.handle, self.functions) = (driver, blas, context, stream, handle, functions)
        self.precision = precision
    }

    /// Runs `body` with the context current on this thread, one caller at a time.
    private func serialized<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            try driver.check(driver.contextSetCurrent(context), "cuCtxSetCurrent")
            return try body()
        }
    }

    public func allocate(bytes: Int) throws -> DeviceBuffer {
        try serialized {
            var address: UInt64 = 0
            try driver.check(driver.memoryAllocate(&address, max(bytes, 1)), "cuMemAlloc", "asked \(Self.size(bytes))")
            return DeviceBuffer(address: address, bytes: bytes)
        }
    }

    public func free(_ buffer: DeviceBuffer) {
        _ = try? serialized { _ = driver.memoryFree(buffer.address) }
    }

    public func freeMemory() throws -> Int {
        try serialized {
            var free = 0, total = 0
            try driver.check(driver.memoryInfo(&free, &total), "cuMemGetInfo")
            return free
        }
    }

    public func upload(_ source: UnsafeRawBufferPointer, to buffer: DeviceBuffer) throws {
        guard source.count <= buffer.bytes else { throw DeviceError.invalidArgument("upload of \(source.count) bytes into \(buffer)") }
        guard source.count > 0 else { return }
        try serialized { try driver.check(driver.copyIn(buffer.address, source.baseAddress!, source.count, stream), "cuMemcpyHtoDAsync", "\(source.count) bytes") }
    }

    public func download(_ buffer: DeviceBuffer, into destination: UnsafeMutableRawBufferPointer) throws {
        guard buffer.bytes <= destination.count else { throw DeviceError.invalidArgument("download of \(buffer) into \(destination.count) bytes") }
        try serialized {
            try driver.check(driver.copyOut(destination.baseAddress!, buffer.address, buffer.bytes, stream), "cuMemcpyDtoHAsync", "\(buffer.bytes) bytes")
            try driver.check(driver.streamSynchronize(stream), "cuStreamSynchronize", "after a download (an earlier kernel or GEMM may have failed)")
        }
    }

    public func zero(_ buffer: DeviceBuffer) throws {
        try serialized { try driver.check(driver.memset(buffer.address, 0, buffer.bytes, stream), "cuMemsetD8Async", "\(buffer.bytes) bytes") }
    }

    public func gemm(_ product: GEMM) throws {
        try product.validate()
        try serialized {
            var alpha = product.alpha, beta = product.beta
            let (ta, tb) = (Int32(product.transposeA ? 1 : 0), Int32(product.transposeB ? 1 : 0))
            let shape = "m=\(product.m) n=\(product.n) k=\(product.k) batch=\(product.batch)"
            if product.batch == 1 {
                try blas.check(blas.sgemm(handle, ta, tb, Int32(product.m), Int32(product.n), Int32(product.k), &alpha,
                                          product.a.address, Int32(product.lda), product.b.address, Int32(product.ldb), &beta,
                                          product.c.address, Int32(product.ldc)), "cublasSgemm", shape)
            } else {
                try blas.check(blas.sgemmStridedBatched(handle, ta, tb, Int32(product.m), Int32(product.n), Int32(product.k), &alpha,
                                                        product.a.address, Int32(product.lda), Int64(product.strideA),
                                                        product.b.address, Int32(product.ldb), Int64(product.strideB), &beta,
                                                        product.c.address, Int32(product.ldc), Int64(product.strideC), Int32(product.batch)),
                               "cublasSgemmStridedBatched", shape)
            }
        }
    }

    public func launch(_ launch: KernelLaunch) throws {
        // Each argument's value in its own 8-byte slot; the launch takes pointers to them.
        let slots = UnsafeMutableRawPointer.allocate(byteCount: 8 * launch.arguments.count, alignment: 8)
        defer { slots.deallocate() }
        var pointers: [UnsafeMutableRawPointer?] = []
        for (index, argument) in launch.arguments.enumerated() {
            let slot = slots + 8 * index
            switch argument {
            case .buffer(let buffer): slot.storeBytes(of: buffer.address, as: UInt64.self)
            case .int(let value): slot.storeBytes(of: value, as: Int32.self)
            case .float(let value): slot.storeBytes(of: value, as: Float.self)
            }
            pointers.append(slot)
        }
        try serialized {
            try driver.check(driver.launch(functions[launch.kernel]!, UInt32(launch.blocks), 1, 1, UInt32(launch.threads), 1, 1, 0, stream,
                                           &pointers, nil),
                             "cuLaunchKernel", "\(launch.kernel.rawValue), \(launch.blocks) blocks of \(launch.threads)")
        }
    }

    public func synchronize() throws {
        try serialized { try driver.check(driver.streamSynchronize(stream), "cuStreamSynchronize") }
    }

    static func size(_ bytes: Int) -> String {
        bytes >= 1 << 30 ? String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) : String(format: "%.1f MiB", Double(bytes) / Double(1 << 20))
    }
}
