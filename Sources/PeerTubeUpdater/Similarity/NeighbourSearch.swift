import Foundation
import GRDB

/// Prod's valid embeddings in memory, L2-normalised, by position; with their keys and rowids.
struct EmbeddingSet: @unchecked Sendable {
    struct Key: Hashable {
        var videoID: String
        var host: String
        init(_ videoID: String, _ host: String) {
            self.videoID = videoID
            self.host = host
        }
    }

    let dimension: Int
    let rowids: [Int64]
    let keys: [Key]
    let vectors: [Float]
    let position: [Key: Int]
    let positionOfRowID: [Int64: Int]
    var count: Int { rowids.count }

    init(_ prod: DatabaseQueue, dbPath: String) throws {
        guard let scan = try prod.read({ db -> EmbeddingScan? in
            try DatabaseFile.requireTables(["video_embeddings", "videos"], in: db, role: "prod DB", path: dbPath)
            return try EmbeddingScan(db)
        }), scan.valid > 0 else { throw ANNError.noEmbeddings(path: dbPath) }
        var rowids: [Int64] = [], vectors: [Float] = []
        vectors.reserveCapacity(scan.valid * scan.dimension)
        try scan.forEachBatch(prod, batchSize: 5_000) { ids, batch in
            rowids += ids
            vectors += batch
        }
        var keyOf: [Int64: Key] = [:]
        try prod.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT rowid, video_id, instance_domain FROM video_embeddings")
            while let row = try rows.next() { keyOf[row[0]] = Key(row[1], row[2]) }
        }
        dimension = scan.dimension
        self.rowids = rowids
        self.vectors = vectors
        keys = rowids.map { keyOf[$0]! }
        position = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        positionOfRowID = Dictionary(uniqueKeysWithValues: rowids.enumerated().map { ($1, $0) })
    }

    func dot(_ a: Int, _ b: Int) -> Float {
        vectors.withUnsafeBufferPointer { v in
            var sum: Float = 0
            let x = v.baseAddress! + a * dimension, y = v.baseAddress! + b * dimension
            for i in 0..<dimension { sum += x[i] * y[i] }
            return sum
        }
    }

    func vector(_ position: Int) -> ArraySlice<Float> { vectors[(position * dimension)..<((position + 1) * dimension)] }
}

/// ANN candidates for many sources at once, re-ranked by exact inner product.
struct NeighbourSearch: @unchecked Sendable {
    struct List {
        var source: Int
        /// The top-k, best first, the source itself left out.
        var hits: [ExactSearch.Hit]
        /// Every candidate the index returned, exactly scored.
        var candidates: [ExactSearch.Hit]
    }

    let index: FaissIndex
    let embeddings: EmbeddingSet
    let topK: Int
    let nprobe: Int
    /// Candidates fetched per source for re-ranking (PQ scores are approximate).
    var pool: Int { topK * 3 + 1 }

    /// One list per source, searching with every core (each thread its own FAISS call).
    func neighbours(of sources: [Int]) throws -> [List] {
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, sources.count / 64))
        let chunks = (0..<workers).map { w in Array(sources[(w * sources.count / workers)..<((w + 1) * sources.count / workers)]) }
        let output = UnsafeMutableBufferPointer<Result<[List], Error>>.allocate(capacity: workers)
        output.initialize(repeating: .success([]))
        defer { output.deallocate() }
        nonisolated(unsafe) let results = output
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            results[w] = Result { try search(chunks[w]) }
        }
        return try output.flatMap { try $0.get() }
    }

    private func search(_ sources: [Int]) throws -> [List] {
        guard !sources.isEmpty else { return [] }
        var queries: [Float] = []
        queries.reserveCapacity(sources.count * embeddings.dimension)
        for source in sources { queries += embeddings.vector(source) }
        let found = try index.search(queries, k: pool, nprobe: nprobe)
        return sources.enumerated().map { q, source in
            var seen = Set<Int>()
            var candidates: [ExactSearch.Hit] = []
            for id in found.ids[(q * pool)..<((q + 1) * pool)] where id >= 0 {
                guard let position = embeddings.positionOfRowID[id], position != source, seen.insert(position).inserted else { continue }
                candidates.append(.init(index: position, score: embeddings.dot(source, position)))
            }
            candidates.sort { $0.score > $1.score }
            return List(source: source, hits: Array(candidates.prefix(topK)), candidates: candidates)
        }
    }
}

/// Writes computed lists into the cache: the neighbours' metadata fetched in bulk, each batch in one
/// transaction (a source's old list is replaced whole).
struct CacheWriter {
    let cache: DatabaseQueue
    let prod: DatabaseQueue
    let embeddings: EmbeddingSet
    let computedAt: Int64

    func write(_ lists: [NeighbourSearch.List]) throws {
        let needed = Set(lists.flatMap { $0.hits.map(\.index) })
        let metadata = try self.metadata(for: needed)
        let similar = Schema.similarColumns.map { "similar_\($0.name)" }
        try cache.write { db in
            let deleteItems = try db.makeStatement(sql: "DELETE FROM similarity_items WHERE source_video_id = ? AND source_instance_domain = ?")
            let upsertSource = try db.makeStatement(sql: """
                INSERT INTO similarity_sources(video_id, instance_domain, computed_at) VALUES (?, ?, ?)
                ON CONFLICT(video_id, instance_domain) DO UPDATE SET computed_at = excluded.computed_at
                """)
            let insertItem = try db.makeStatement(sql: """
                INSERT INTO similarity_items(source_video_id, source_instance_domain, similar_video_id, similar_instance_domain,
                    score, rank, \(similar.joined(separator: ", ")))
                VALUES (?, ?, ?, ?, ?, ?, \(Array(repeating: "?", count: similar.count).joined(separator: ", ")))
                """)
            for list in lists {
                let source = embeddings.keys[list.source]
                try deleteItems.execute(arguments: [source.videoID, source.host])
                try upsertSource.execute(arguments: [source.videoID, source.host, computedAt])
                var rank = 0
                for hit in list.hits {
                    guard let fields = metadata[hit.index] else { continue }  // an embedding without its video row
                    rank += 1
                    let neighbour = embeddings.keys[hit.index]
                    var arguments: [DatabaseValueConvertible?] = [source.videoID, source.host, neighbour.videoID, neighbour.host,
                                                                   Double(hit.score), rank]
                    arguments += fields
                    try insertItem.execute(arguments: StatementArguments(arguments))
                }
            }
        }
    }

    /// The denormalised fields of each needed neighbour (by position), in `Schema.similarColumns` order.
    private func metadata(for positions: Set<Int>) throws -> [Int: [DatabaseValue]] {
        let select = Schema.similarColumns.map { $0.name == "channel_avatar_url" ? "c.avatar_url" : "v.\($0.name)" }
        var result: [Int: [DatabaseValue]] = [:]
        let rowids = positions.map { embeddings.rowids[$0] }
        try prod.read { db in
            for chunk in stride(from: 0, to: rowids.count, by: 500).map({ Array(rowids[$0..<min($0 + 500, rowids.count)]) }) {
                let rows = try Row.fetchAll(db, sql: """
                    SELECT e.rowid, \(select.joined(separator: ", "))
                    FROM video_embeddings e
                    JOIN videos v ON v.video_id = e.video_id AND v.instance_domain = e.instance_domain
                    LEFT JOIN channels c ON c.channel_id = v.channel_id AND c.instance_domain = v.instance_domain
                    WHERE e.rowid IN (\(chunk.map(String.init).joined(separator: ",")))
                    """)
                for row in rows {
                    guard let position = embeddings.positionOfRowID[row[0]] else { continue }
                    result[position] = Array(row.databaseValues.dropFirst())
                }
            }
        }
        return result
    }
}
