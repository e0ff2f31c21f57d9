import Foundation
import GRDB

/// How good the cached similarity lists are: recall against exact brute-force search. Used by the
/// tests and the benchmark.
public enum SimilarityQuality {
    public struct VideoKey: Hashable, Sendable, CustomStringConvertible {
        public var videoID: String
        public var host: String
        public var description: String { "\(videoID)@\(host)" }
    }

    /// Exact top-k of every `sampleEvery`-th embedding (rowid order), itself left out.
    ///
    /// - Throws: `StorageError` for an unusable prod DB, `SimilarityError.noEmbeddings` when it holds none.
    public static func exactLists(prodPath: String, k: Int = 20, sampleEvery: Int = 1) throws -> [VideoKey: [VideoKey]] {
        let set = try EmbeddingSet(DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly), dbPath: prodPath)
        let (keys, vectors, dimension) = (set.keys.map { VideoKey(videoID: $0.videoID, host: $0.host) }, set.vectors, set.dimension)
        let sample = Array(stride(from: 0, to: keys.count, by: max(1, sampleEvery)))
        let queries = sample.flatMap { vectors[($0 * dimension)..<(($0 + 1) * dimension)] }
        let hits = ExactSearch.topK(queries: queries, vectors: vectors, dimension: dimension, k: k, exclude: { sample[$0] })
        return Dictionary(uniqueKeysWithValues: zip(sample, hits).map { (keys[$0], $1.map { keys[$0.index] }) })
    }

    /// recall@k of an ANN index's own search (`nprobe` lists, its PQ scores, no re-ranking) against
    /// exact search, on every `sampleEvery`-th embedding (itself left out on both sides).
    ///
    /// - Throws: `StorageError`, `FaissError`, `SimilarityError.noEmbeddings`.
    public static func indexRecall(indexPath: String, prodPath: String, k: Int = 20, nprobe: Int = 16, sampleEvery: Int = 1) throws -> Double {
        let set = try EmbeddingSet(DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly), dbPath: prodPath)
        let index = try FaissIndex.read(indexPath)
        let sample = Array(stride(from: 0, to: set.count, by: max(1, sampleEvery)))
        let queries = set.gathered(sample)
        let exact = ExactSearch.topK(queries: queries, vectors: set.vectors, dimension: set.dimension, k: k, exclude: { sample[$0] })
        let found = try index.search(queries, k: k + 1, nprobe: nprobe).ids
        var hits = 0, wanted = 0
        for (q, source) in sample.enumerated() {
            let listed = found[(q * (k + 1))..<((q + 1) * (k + 1))].compactMap { set.position(ofRowID: $0) }.filter { $0 != source }.prefix(k)
            wanted += exact[q].count
            hits += Set(exact[q].map(\.index)).intersection(listed).count
        }
        return wanted == 0 ? 1 : Double(hits) / Double(wanted)
    }

    /// The cache's lists, in rank order.
    ///
    /// - Throws: `StorageError` for an unusable file, `DatabaseError` when it cannot be read.
    public static func cachedLists(cachePath: String) throws -> [VideoKey: [VideoKey]] {
        try DatabaseFile.open(cachePath, role: "similarity cache", access: .readOnly).read { db in
            var lists: [VideoKey: [VideoKey]] = [:]
            let rows = try Row.fetchCursor(db, sql: """
                SELECT source_video_id, source_instance_domain, similar_video_id, similar_instance_domain
                FROM similarity_items ORDER BY source_video_id, source_instance_domain, rank
                """)
            while let row = try rows.next() {
                lists[VideoKey(videoID: row[0], host: row[1]), default: []].append(VideoKey(videoID: row[2], host: row[3]))
            }
            return lists
        }
    }

    /// Share of the exact neighbours that the cached lists hold.
    public static func recall(_ cached: [VideoKey: [VideoKey]], against exact: [VideoKey: [VideoKey]]) -> Double {
        let wanted = exact.values.reduce(0) { $0 + $1.count }
        let found = exact.reduce(0) { $0 + Set($1.value).intersection(cached[$1.key] ?? []).count }
        return wanted == 0 ? 1 : Double(found) / Double(wanted)
    }
}
