import Foundation

/// The CUDA driver API (`libcuda.so.1`) as far as the GPU pipeline uses it, loaded with `dlopen`.
/// Every call's result is checked and named in errors: `cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY (asked 3.1 GiB)`.
final class CUDADriver: @unchecked Sendable {
    typealias Status = Int32
    typealias IntOut = @convention(c) (UnsafeMutablePointer<Int32>) -> Status
    typealias Init = @convention(c) (UInt32) -> Status
    typealias DeviceGet = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Status
    typealias DeviceName = @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> Status
    typealias DeviceTotalMemory = @convention(c) (UnsafeMutablePointer<Int>, Int32) -> Status
    typealias DeviceAttribute = @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> Status
    typealias PrimaryContextRetain = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32) -> Status
    typealias ContextSet = @convention(c) (OpaquePointer?) -> Status
    typealias MemoryAllocate = @convention(c) (UnsafeMutablePointer<UInt64>, Int) -> Status
    typealias MemoryFree = @convention(c) (UInt64) -> Status
    typealias MemoryInfo = @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> Status
    typealias CopyIn = @convention(c) (UInt64, UnsafeRawPointer, Int, OpaquePointer?) -> Status
    typealias CopyOut = @convention(c) (UnsafeMutableRawPointer, UInt64, Int, OpaquePointer?) -> Status
    typealias Memset = @convention(c) (UInt64, UInt8, Int, OpaquePointer?) -> Status
    typealias StreamCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32) -> Status
    typealias StreamSynchronize = @convention(c) (OpaquePointer?) -> Status
    typealias ModuleLoad = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafeRawPointer) -> Status
    typealias ModuleFunction = @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?, UnsafePointer<CChar>) -> Status
    typealias Launch = @convention(c) (OpaquePointer?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, OpaquePointer?,
                                       UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Status
    typealias ErrorName = @convention(c) (Status, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Status

    let library: SharedLibrary
    let initialize: Init, driverVersion: IntOut, deviceCount: IntOut, deviceGet: DeviceGet, deviceName: DeviceName
    let deviceTotalMemory: DeviceTotalMemory, deviceAttribute: DeviceAttribute
    let primaryContextRetain: PrimaryContextRetain, contextSetCurrent: ContextSet
    let memoryAllocate: MemoryAllocate, memoryFree: MemoryFree, memoryInfo: MemoryInfo
    let copyIn: CopyIn, copyOut: CopyOut, memset: Memset
    let streamCreate: StreamCreate, streamSynchronize: StreamSynchronize
    let moduleLoad: ModuleLoad, moduleFunction: ModuleFunction, launch: Launch
    private let errorName: ErrorName

    /// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR` / `_MINOR`.
    static let computeCapabilityMajor: Int32 = 75, computeCapabilityMinor: Int32 = 76

    /// - Throws: `DeviceError.libraryMissing` without a driver, `.call` for a driver lacking a function.
    init() throws {
        let library = try CUDALibraries.driver()
        self.library = library
        func f<T>(_ name: String) throws -> T { try library.function(name) }
        initialize = try f("cuInit")
        driverVersion = try f("cuDriverGetVersion")
        deviceCount = try f("cuDeviceGetCount")
        deviceGet = try f("cuDeviceGet")
        deviceName = try f("cuDeviceGetName")
        deviceTotalMemory = try f("cuDeviceTotalMem_v2")
        deviceAttribute = try f("cuDeviceGetAttribute")
        primaryContextRetain = try f("cuDevicePrimaryCtxRetain")
        contextSetCurrent = try f("cuCtxSetCurrent")
        memoryAllocate = try f("cuMemAlloc_v2")
        memoryFree = try f("cuMemFree_v2")
        memoryInfo = try f("cuMemGetInfo_v2")
        copyIn = try f("cuMemcpyHtoDAsync_v2")
        copyOut = try f("cuMemcpyDtoHAsync_v2")
        memset = try f("cuMemsetD8Async")
        streamCreate = try f("cuStreamCreate")
        streamSynchronize = try f("cuStreamSynchronize")
        moduleLoad = try f("cuModuleLoadData")
        moduleFunction = try f("cuModuleGetFunction")
        launch = try f("cuLaunchKernel")
        errorName = try f("cuGetErrorName")
    }

    /// `CUDA_ERROR_OUT_OF_MEMORY` for a status.
    func name(of status: Status) -> String {
        var text: UnsafePointer<CChar>?
        return errorName(status, &text) == 0 ? text.map { String(cString: $0) } ?? "CUDA error \(status)" : "CUDA error \(status)"
    }

    /// - Throws: `DeviceError.call` naming `call`, the status and `detail` unless `status` is success.
    func check(_ status: Status, _ call: @autoclosure () -> String, _ detail: @autoclosure () -> String = "") throws {
        guard status == 0 else { throw DeviceError.call(call(), status: name(of: status), detail: detail()) }
    }
}

/// cuBLAS (`libcublas.so.13` or `.12`), loaded with `dlopen`: the GEMMs of the GPU pipeline, fp32 or TF32.
final class CUBLAS: @unchecked Sendable {
    typealias Status = Int32
    typealias Create = @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Status
    typealias SetStream = @convention(c) (OpaquePointer?, OpaquePointer?) -> Status
    typealias SetMathMode = @convention(c) (OpaquePointer?, Int32) -> Status
    typealias GetVersion = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>) -> Status
    typealias Sgemm = @convention(c) (OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>, UInt64, Int32,
                                      UInt64, Int32, UnsafePointer<Float>, UInt64, Int32) -> Status
    typealias SgemmStridedBatched = @convention(c) (OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>,
                                                    UInt64, Int32, Int64, UInt64, Int32, Int64, UnsafePointer<Float>,
                                                    UInt64, Int32, Int64, Int32) -> Status

    let library: SharedLibrary
    let create: Create, setStream: SetStream, setMathMode: SetMathMode, getVersion: GetVersion
    let sgemm: Sgemm, sgemmStridedBatched: SgemmStridedBatched

    /// `CUBLAS_DEFAULT_MATH` (fp32) and `CUBLAS_TF32_TENSOR_OP_MATH`.
    static let defaultMath: Int32 = 0, tf32Math: Int32 = 3

    init(libraries: CUDALibraries) throws {
        let library = try libraries.cuBLAS()
        self.library = library
        func f<T>(_ name: String) throws -> T { try library.function(name) }
        create = try f("cublasCreate_v2")
        setStream = try f("cublasSetStream_v2")
        setMathMode = try f("cublasSetMathMode")
        getVersion = try f("cublasGetVersion_v2")
        sgemm = try f("cublasSgemm_v2")
        sgemmStridedBatched = try f("cublasSgemmStridedBatched")
    }

    /// `CUBLAS_STATUS_ALLOC_FAILED` for a status (cuBLAS's enum).
    static func name(of status: Status) -> String {
        switch status {
        case 1: "CUBLAS_STATUS_NOT_INITIALIZED"
        case 3: "CUBLAS_STATUS_ALLOC_FAILED"
        case 7: "CUBLAS_STATUS_INVALID_VALUE"
        case 8: "CUBLAS_STATUS_ARCH_MISMATCH"
        case 11: "CUBLAS_STATUS_MAPPING_ERROR"
        case 13: "CUBLAS_STATUS_EXECUTION_FAILED"
        case 14: "CUBLAS_STATUS_INTERNAL_ERROR"
        case 15: "CUBLAS_STATUS_NOT_SUPPORTED"
        case 16: "CUBLAS_STATUS_LICENSE_ERROR"
        default: "CUBLAS_STATUS \(status)"
        }
    }

    func check(_ status: Status, _ call: @autoclosure () -> String, _ detail: @autoclosure () -> String = "") throws {
        guard status == 0 else { throw DeviceError.call(call(), status: Self.name(of: status), detail: detail()) }
    }
}
