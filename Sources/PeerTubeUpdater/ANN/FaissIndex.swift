import CFaissShim
import Foundation

public struct FaissError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var message: String
    public var description: String { "FAISS \(operation) failed: \(message)" }
}

/// An `IndexIDMap2(IndexIVFPQ(IndexFlatIP))` owned by Swift: freed with the value, and every FAISS
/// exception surfaces as a `FaissError` (the C++ shim catches them).
public final class FaissIndex: @unchecked Sendable {
    private let handle: OpaquePointer

    private init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { fs_free(handle) }

    /// Runs a shim call that reports errors through a message buffer.
    private static func call<T>(_ operation: String, _ body: (UnsafeMutablePointer<CChar>, Int) -> T?) throws -> T {
        var buffer = [CChar](repeating: 0, count: 512)
        let result = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        guard let result else {
            let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw FaissError(operation: operation, message: message.isEmpty ? "unknown error" : message)
        }
        return result
    }

    private func check(_ operation: String, _ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
        _ = try Self.call(operation) { body($0, $1) == 0 ? () : nil }
    }

    /// - Throws: `FaissError` with FAISS's own message (a C++ exception caught in the shim).
    public static func ivfpq(dimension: Int, nlist: Int, m: Int, nbits: Int) throws -> FaissIndex {
        FaissIndex(try call("create") { fs_ivfpq_create(Int32(dimension), Int32(nlist), Int32(m), Int32(nbits), $0, $1) })
    }

    /// - Throws: `FaissError` with FAISS's own message (a C++ exception caught in the shim).
    public static func read(_ path: String) throws -> FaissIndex {
        FaissIndex(try call("read of \(path)") { fs_read(path, $0, $1) })
    }

    /// Trains on `count` vectors laid out back to back.
    ///
    /// - Throws: `FaissError` with FAISS's own message (a C++ exception caught in the shim).
    public func train(_ vectors: [Float]) throws {
        let count = vectors.count / dimension
        try check("train") { fs_train(handle, Int64(count), vectors, $0, $1) }
    }

    /// Makes this untrained index trained with codebooks trained outside FAISS.
    ///
    /// - Throws: `FaissError` when the index is trained already or not an IVF-PQ index.
    func setCodebooks(_ codebooks: IVFPQCodebooks) throws {
        precondition(codebooks.coarse.count == nlist * dimension, "coarse centroids disagree with the index")
        try check("training from codebooks") { fs_ivfpq_set_codebooks(handle, codebooks.coarse, codebooks.subCentroids, $0, $1) }
    }

    /// Appends vectors encoded with the codebooks this index was given: list numbers, PQ codes and ids.
    ///
    /// - Throws: `FaissError` when the index is untrained or a list number is out of range.
    func addEncoded(lists: [Int64], codes: [UInt8], ids: [Int64]) throws {
        precondition(lists.count == ids.count && codes.count == ids.count * Int(fs_code_size(handle)), "codes and ids disagree")
        try check("add") { fs_add_encoded(handle, Int64(ids.count), lists, codes, ids, $0, $1) }
    }

    /// - Throws: `FaissError` with FAISS's own message (a C++ exception caught in the shim).
    public func add(_ vectors: [Float], ids: [Int64]) throws {
        precondition(vectors.count == ids.count * dimension, "vectors and ids disagree")
        try check("add") { fs_add_with_ids(handle, Int64(ids.count), vectors, ids, $0, $1) }
    }

    /// The `k` nearest stored ids of each query by inner product (id -1 pads short lists).
    ///
    /// - Throws: `FaissError` with FAISS's own message (a C++ exception caught in the shim).
    public func search(_ queries: [Float], k: Int, nprobe: Int) throws -> (distances: [Float], ids: [Int64]) {
        let count = queries.count / dimension
        var distances = [Float](repeating: 0, count: count * k)
        var ids = [Int64](repeating: -1, count: count * k)
        try check("search") { fs_search(handle, Int64(count), queries, Int64(k), Int32(nprobe), &distances, &ids, $0, $1) }
        return (distances, ids)
    }

    /// - Throws: `FaissError` with FAISS's own message (a C++ exception caught in the shim).
    public func write(to path: String) throws {
        try check("write of \(path)") { fs_write(handle, path, $0, $1) }
    }

    public var count: Int { Int(fs_ntotal(handle)) }
    public var dimension: Int { Int(fs_dimension(handle)) }
    public var nlist: Int { Int(fs_nlist(handle)) }
    public var isTrained: Bool { fs_is_trained(handle) != 0 }

    /// The coarse centroids (nlist × dimension): the inverted lists' centres, as trained.
    ///
    /// - Throws: `FaissError` for an index without trained centroids.
    public func coarseCentroids() throws -> [Float] {
        var centroids = [Float](repeating: 0, count: nlist * dimension)
        try check("read of the coarse centroids") { fs_coarse_centroids(handle, &centroids, $0, $1) }
        return centroids
    }

    /// Every id the index holds, in insertion order.
    public var storedIDs: [Int64] {
        var ids = [Int64](repeating: 0, count: count)
        _ = fs_ids(handle, &ids, Int64(ids.count))
        return ids
    }

    /// Each stored vector's id and the inverted list FAISS filed it in (its nearest coarse centroid
    /// when the index was built).
    ///
    /// - Throws: `FaissError` for inverted lists that disagree with the index's ids.
    public func listAssignment() throws -> (ids: [Int64], lists: [Int32]) {
        var ids = [Int64](repeating: 0, count: count), lists = [Int32](repeating: 0, count: count)
        var written: Int64 = 0
        try check("read of the inverted lists") { error, size in
            written = fs_list_assignment(handle, &ids, &lists, Int64(ids.count), error, size)
            return written < 0 ? -1 : 0
        }
        return (Array(ids.prefix(Int(written))), Array(lists.prefix(Int(written))))
    }

    /// FAISS's OpenMP threads and OpenBLAS's threads. One of each keeps training steady when the other
    /// core is busy (libgomp's spinning barriers were measured 5-10x slower under load on 2 cores);
    /// callers parallelise searches themselves.
    public static func setThreads(openMP: Int, blas: Int) { fs_set_threads(Int32(openMP), Int32(blas)) }

    /// Which BLAS serves FAISS at run time.
    public static var blasDescription: String { String(cString: fs_blas_description()) }
}
