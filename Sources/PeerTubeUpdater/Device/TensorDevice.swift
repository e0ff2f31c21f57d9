import Foundation

/// Memory on a `TensorDevice`: an address in the device's space (a `CUdeviceptr` on CUDA, a host
/// pointer on `HostDevice`) and a size. A view into a larger buffer is a buffer too.
public struct DeviceBuffer: Sendable, Hashable, CustomStringConvertible {
    public let address: UInt64
    public let bytes: Int

    public init(address: UInt64, bytes: Int) {
        self.address = address
        self.bytes = bytes
    }

    /// The part from `elements` 4-byte values in (`count` of them, or the rest).
    public func view(from elements: Int, count: Int? = nil) -> DeviceBuffer {
        let start = min(bytes, elements * 4)
        return DeviceBuffer(address: address + UInt64(start), bytes: count.map { min($0 * 4, bytes - start) } ?? bytes - start)
    }

    public var description: String { "0x\(String(address, radix: 16))+\(bytes)" }
}

/// A matrix product in cuBLAS's terms: C = alpha·op(A)·op(B) + beta·C, column-major, op(A) of
/// m × k, op(B) of k × n, C of m × n; with `batch` > 1, `batch` such products whose operands are
/// `stride…` elements apart (cuBLAS's strided-batched GEMM). Leading dimensions and strides count
/// elements. A row-major matrix read column-major is its transpose: that is how row-major data goes
/// through it.
public struct GEMM: Sendable {
    public var transposeA: Bool, transposeB: Bool
    public var m: Int, n: Int, k: Int
    public var alpha: Float = 1, beta: Float = 0
    public var a: DeviceBuffer, lda: Int, strideA = 0
    public var b: DeviceBuffer, ldb: Int, strideB = 0
    public var c: DeviceBuffer, ldc: Int, strideC = 0
    public var batch = 1

    public init(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0,
                a: DeviceBuffer, lda: Int, strideA: Int = 0, b: DeviceBuffer, ldb: Int, strideB: Int = 0,
                c: DeviceBuffer, ldc: Int, strideC: Int = 0, batch: Int = 1) {
        (self.transposeA, self.transposeB, self.m, self.n, self.k, self.alpha, self.beta) = (transposeA, transposeB, m, n, k, alpha, beta)
        (self.a, self.lda, self.strideA, self.b, self.ldb, self.strideB) = (a, lda, strideA, b, ldb, strideB)
        (self.c, self.ldc, self.strideC, self.batch) = (c, ldc, strideC, batch)
    }

    /// Elements each operand spans (the last batch's end): what its buffer must hold.
    var spans: (a: Int, b: Int, c: Int) {
        let rowsA = transposeA ? k : m, colsA = transposeA ? m : k
        let rowsB = transposeB ? n : k, colsB = transposeB ? k : n
        func span(_ rows: Int, _ cols: Int, _ ld: Int, _ stride: Int) -> Int { (batch - 1) * stride + (cols - 1) * ld + rows }
        return (span(rowsA, colsA, lda, strideA), span(rowsB, colsB, ldb, strideB), span(m, n, ldc, strideC))
    }

    /// - Throws: `DeviceError.invalidArgument` for sizes, leading dimensions or buffers that do not fit.
    func validate() throws {
        let rowsA = transposeA ? k : m, rowsB = transposeB ? n : k
        guard m > 0, n > 0, k > 0, batch > 0, lda >= max(1, rowsA), ldb >= max(1, rowsB), ldc >= max(1, m) else {
            throw DeviceError.invalidArgument("gemm m=\(m) n=\(n) k=\(k) lda=\(lda) ldb=\(ldb) ldc=\(ldc) batch=\(batch)")
        }
        let (sa, sb, sc) = spans
        guard sa * 4 <= a.bytes, sb * 4 <= b.bytes, sc * 4 <= c.bytes else {
            throw DeviceError.invalidArgument("gemm operands too small: A needs \(sa), B \(sb), C \(sc) floats; have \(a.bytes / 4), \(b.bytes / 4), \(c.bytes / 4)")
        }
    }
}

/// How a device computes `gemm`s: fp32 throughout, or TF32 tensor cores (cuBLAS math mode 3) where
/// their ~2.6e-4 relative error is accepted.
public enum GEMMPrecision: String, Sendable, CaseIterable {
    case fp32, tf32
}

/// A device failure, named with the call and its result (`cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY (asked 3.1 GiB)`).
public enum DeviceError: Error, CustomStringConvertible, Equatable {
    /// A CUDA, cuBLAS or NVRTC library could not be loaded (what was tried, in order).
    case libraryMissing(name: String, tried: [String])
    /// A call returned an error status.
    case call(String, status: String, detail: String = "")
    /// NVRTC refused a kernel source (its log).
    case compile(log: String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .libraryMissing(name, tried):
            "\(name) could not be loaded (tried \(tried.joined(separator: ", ")))"
        case let .call(call, status, detail):
            "\(call): \(status)" + (detail.isEmpty ? "" : " (\(detail))")
        case let .compile(log):
            "NVRTC could not compile the kernels: \(log)"
        case let .invalidArgument(what):
            "invalid device call: \(what)"
        }
    }
}

/// The small device interface the GPU pipeline is written against: buffers, copies, cuBLAS-semantics
/// GEMMs and kernel launches. `CUDADevice` runs it on a GPU; `HostDevice` runs it on the CPU (OpenBLAS
/// for the GEMMs, a plain-loop reference of each kernel), so every GPU pipeline is checked in
/// `make test` without a GPU.
///
/// Work is ordered: each call sees the effects of the calls before it. A device may run calls
/// asynchronously; `download` and `synchronize` wait for everything issued before them. One caller
/// at a time.
public protocol TensorDevice: AnyObject, Sendable {
    /// e.g. `cuda:0 NVIDIA H200 (sm_90, 139 GiB)` or `host (OpenBLAS reference)`.
    var name: String { get }
    /// The marker value of the embeddings stage (`device=cuda`, `device=cpu`).
    var embeddingsMarker: String { get }
    var precision: GEMMPrecision { get }

    /// - Throws: `DeviceError` (out of memory: the size asked).
    func allocate(bytes: Int) throws -> DeviceBuffer
    func free(_ buffer: DeviceBuffer)
    /// Bytes the device can still allocate.
    func freeMemory() throws -> Int

    func upload(_ source: UnsafeRawBufferPointer, to buffer: DeviceBuffer) throws
    /// Waits for the work issued before it, then copies `buffer` out.
    func download(_ buffer: DeviceBuffer, into destination: UnsafeMutableRawBufferPointer) throws
    func zero(_ buffer: DeviceBuffer) throws

    func gemm(_ product: GEMM) throws
    func launch(_ launch: KernelLaunch) throws
    func synchronize() throws
}

extension TensorDevice {
    /// A buffer holding `values`.
    public func upload<T>(_ values: [T]) throws -> DeviceBuffer {
        let buffer = try allocate(bytes: max(4, values.count * MemoryLayout<T>.stride))
        try values.withUnsafeBytes { try upload($0, to: buffer) }
        return buffer
    }

    /// `count` values of `buffer`.
    public func download<T>(_ buffer: DeviceBuffer, count: Int, as type: T.Type = T.self) throws -> [T] {
        guard count * MemoryLayout<T>.stride <= buffer.bytes else {
            throw DeviceError.invalidArgument("download of \(count) values from \(buffer)")
        }
        return try [T](unsafeUninitializedCapacity: count) { values, initialized in
            try download(buffer.view(from: 0, count: count * MemoryLayout<T>.stride / 4), into: UnsafeMutableRawBufferPointer(values))
            initialized = count
        }
    }
}
