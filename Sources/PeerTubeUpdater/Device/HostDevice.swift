import COpenBLAS
import Foundation
import Synchronization

/// The GPU pipeline's device on the CPU: buffers in host memory, `gemm` by OpenBLAS with cuBLAS's
/// semantics (column-major, strided batches), and each kernel by its plain-loop host reference
/// (`KernelReference`). The GPU code paths (batch packing, layouts, strides, transposes) run here in
/// `make test` exactly as they run on CUDA, without a GPU.
///
/// Every buffer a call names must lie inside one allocation: a layout bug fails with its name
/// instead of touching foreign memory.
public final class HostDevice: TensorDevice {
    public let name = "host (OpenBLAS GEMMs, reference kernels)"
    public let embeddingsMarker = "cpu"
    public let precision = GEMMPrecision.fp32
    /// Allocations by address: their sizes.
    private let allocations = Mutex<[UInt64: Int]>([:])
    /// Bytes this device may hand out in all (what `freeMemory` counts down from).
    private let capacity: Int

    public init(capacity: Int = 4 << 30) { self.capacity = capacity }

    deinit {
        for (address, _) in allocations.withLock({ $0 }) { UnsafeMutableRawPointer(bitPattern: UInt(address))?.deallocate() }
    }

    public func allocate(bytes: Int) throws -> DeviceBuffer {
        guard bytes > 0, try freeMemory() >= bytes else {
            throw DeviceError.call("allocate", status: "out of memory", detail: "asked \(bytes) bytes, \((try? freeMemory()) ?? 0) free")
        }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 256)
        let address = UInt64(UInt(bitPattern: pointer))
        allocations.withLock { $0[address] = bytes }
        return DeviceBuffer(address: address, bytes: bytes)
    }

    public func free(_ buffer: DeviceBuffer) {
        guard allocations.withLock({ $0.removeValue(forKey: buffer.address) }) != nil else { return }
        UnsafeMutableRawPointer(bitPattern: UInt(buffer.address))?.deallocate()
    }

    public func freeMemory() throws -> Int { capacity - allocations.withLock { $0.values.reduce(0, +) } }

    /// The memory of `buffer`, after checking it lies inside one allocation.
    func memory(_ buffer: DeviceBuffer) throws -> UnsafeMutableRawBufferPointer {
        let inside = allocations.withLock { list in
            list.contains { address, bytes in buffer.address >= address && buffer.address + UInt64(buffer.bytes) <= address + UInt64(bytes) }
        }
        guard inside, let pointer = UnsafeMutableRawPointer(bitPattern: UInt(buffer.address)) else {
            throw DeviceError.invalidArgument("buffer \(buffer) is not inside an allocation of this device")
        }
        return UnsafeMutableRawBufferPointer(start: pointer, count: buffer.bytes)
    }

    public func upload(_ source: UnsafeRawBufferPointer, to buffer: DeviceBuffer) throws {
        guard source.count <= buffer.bytes else { throw DeviceError.invalidArgument("upload of \(source.count) bytes into \(buffer)") }
        try memory(buffer).copyMemory(from: source)
    }

    public func download(_ buffer: DeviceBuffer, into destination: UnsafeMutableRawBufferPointer) throws {
        guard buffer.bytes <= destination.count else { throw DeviceError.invalidArgument("download of \(buffer) into \(destination.count) bytes") }
        destination.copyMemory(from: UnsafeRawBufferPointer(try memory(buffer)))
    }

    public func zero(_ buffer: DeviceBuffer) throws {
        let bytes = try memory(buffer)
        bytes.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: bytes.count)
    }

    public func gemm(_ product: GEMM) throws {
        try product.validate()
        let a = try memory(product.a).bindMemory(to: Float.self).baseAddress!
        let b = try memory(product.b).bindMemory(to: Float.self).baseAddress!
        let c = try memory(product.c).bindMemory(to: Float.self).baseAddress!
        for index in 0..<product.batch {
            cblas_sgemm(CblasColMajor, product.transposeA ? CblasTrans : CblasNoTrans, product.transposeB ? CblasTrans : CblasNoTrans,
                        Int32(product.m), Int32(product.n), Int32(product.k), product.alpha,
                        a + index * product.strideA, Int32(product.lda), b + index * product.strideB, Int32(product.ldb),
                        product.beta, c + index * product.strideC, Int32(product.ldc))
        }
    }

    public func launch(_ launch: KernelLaunch) throws {
        try KernelReference.run(launch) { [self] in try memory($0) }
    }

    public func synchronize() throws {}
}
