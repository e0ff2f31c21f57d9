import Foundation
import GRDB

/// Prod's valid embeddings in memory, L2-normalised, by position (in rowid order); with their keys and rowids.
struct EmbeddingSet: @unchecked Sendable {
    typealias Key = EmbeddingScan.Key

    let dimension: Int
    /// Ascending.
    let rowids: [Int64]
    let keys: [Key]
    let vectors: [Float]
    /// Positions by key, from the key's bytes as SQLite returns them.
    let keyTable: EmbeddingKeyTable
    var count: Int { rowids.count }

    init(_ prod: DatabaseQueue, dbPath: String) throws {
        guard let scan = try prod.read({ db -> EmbeddingScan? in
            try DatabaseFile.requireTables(["video_embeddings", "videos"], in: db, role: "prod DB", path: dbPath)
            return try EmbeddingScan(db)
        }), scan.valid > 0 else { throw SimilarityError.noEmbeddings(path: dbPath) }
        var rowids: [Int64] = [], vectors: [Float] = [], keys: [Key] = []
        vectors.reserveCapacity(scan.valid * scan.dimension)
        try scan.forEachBatch(prod, batchSize: 5_000, withKeys: true) { ids, batch, batchKeys in
            rowids += ids
            vectors += batch
            keys += batchKeys
        }
        dimension = scan.dimension
        self.rowids = rowids
        self.vectors = vectors
        self.keys = keys
        keyTable = EmbeddingKeyTable(keys)
    }

    /// The position of the vector whose row is `rowid`, or nil when the set lacks it.
    func position(ofRowID rowid: Int64) -> Int? {
        var low = 0, high = rowids.count
        while low < high {
            let middle = (low + high) / 2
            if rowids[middle] < rowid { low = middle + 1 } else { high = middle }
        }
        return low < rowids.count && rowids[low] == rowid ? low : nil
    }

    /// The positions of the videos whose keys the query's first two columns name (video id, host),
    /// read through SQLite's C API; keys the set lacks are skipped.
    ///
    /// - Throws: `DatabaseError` when the query fails.
    func positions(_ db: Database, of sql: String) throws -> [Int] {
        var found: [Int] = []
        try BulkStatement(db, sql: sql).forEachRow(db, { _ in }) { row in
            if let position = keyTable.position(videoID: row.text(0), host: row.text(1)) { found.append(position) }
        }
        return found
    }

    /// Inner product of two stored vectors. Sixteen lanes in two accumulators: a scalar float sum
    /// cannot be vectorised by the compiler (strict addition order), and `SIMD8.addProduct` compiled
    /// to one `fmaf` call per lane (26% of a full precompute's CPU, perf); re-ranking calls this ~60
    /// times a source.
    func dot(_ a: Int, _ b: Int) -> Float {
        vectors.withUnsafeBufferPointer { v in
            let x = UnsafeRawPointer(v.baseAddress! + a * dimension), y = UnsafeRawPointer(v.baseAddress! + b * dimension)
            var first = SIMD8<Float>.zero, second = SIMD8<Float>.zero
            var i = 0
            while i + 16 <= dimension {
                first += x.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                    * y.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                second += x.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self)
                    * y.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self)
                i += 16
            }
            var sum = (first + second).sum()
            while i < dimension {
                sum += x.load(fromByteOffset: i * 4, as: Float.self) * y.load(fromByteOffset: i * 4, as: Float.self)
                i += 1
            }
            return sum
        }
    }

    /// The cache's order within a list: higher score first, ties by lower rowid. Writing and merging
    /// use this one rule, so a merged list's unchanged leading rows are recognised as such.
    func ranksBefore(_ a: ExactSearch.Hit, _ b: ExactSearch.Hit) -> Bool {
        a.score != b.score ? a.score > b.score : rowids[a.index] < rowids[b.index]
    }

    /// Positions sorted by their video's key, the order of the cache's primary key.
    func inKeyOrder<S: Sequence<Int>>(_ positions: S) -> [Int] {
        positions.sorted { a, b in (keys[a].videoID, keys[a].host) < (keys[b].videoID, keys[b].host) }
    }

    /// The vectors at `positions`, back to back.
    func gathered<S: Collection<Int>>(_ positions: S) -> [Float] {
        [Float](unsafeUninitializedCapacity: positions.count * dimension) { target, initialized in
            vectors.withUnsafeBufferPointer { source in
                for (row, position) in positions.enumerated() {
                    (target.baseAddress! + row * dimension).initialize(from: source.baseAddress! + position * dimension, count: dimension)
                }
            }
            initialized = positions.count * dimension
        }
    }
}

// MARK: - NeighbourFinder

/// What the similarity stage searches with: lists for many sources at once, each with the
/// candidates it offers itself to (exactly scored). `ListBlockedSearch` (exact vectors searched list
/// by list, the CPU path) and `DeviceExactSearch` (exact top-k over everything on a GPU) are the two.
protocol NeighbourFinder {
    /// One list per source, in order.
    func neighbours(of sources: [Int]) throws -> [NeighbourSearch.List]
}

/// A finder the stage can ask for offers in an incremental run (both finders can).
protocol OfferingFinder: NeighbourFinder {
    /// For the log: how it searches.
    var label: String { get }
    /// From now on each search also returns offers to the cached lists of `floor` (their last entries by position).
    func offering(to floor: [Int: SimilarityPrecompute.ListFloor], topK: Int) throws
    func stopOffering()
}

extension NeighbourFinder {
    /// Searches `batches` in order and hands each batch's lists to `consume`, searching the next batch
    /// while `consume` (the single-threaded SQLite write) runs on the current one.
    func pipelined(_ batches: [[Int]], consume: ([NeighbourSearch.List]) throws -> Void) throws {
        guard !batches.isEmpty else { return }
        nonisolated(unsafe) let finder = self
        var current = try neighbours(of: batches[0])
        for next in batches.dropFirst() {
            let slot = PendingLists(), group = DispatchGroup()
            DispatchQueue.global().async(group: group) { slot.result = Result { try finder.neighbours(of: next) } }
            let written = Result { try consume(current) }
            group.wait()
            try written.get()
            current = try slot.result.get()
        }
        try consume(current)
    }
}

/// Time spent in a finder's searches, summed over the stage (they overlap the writes).
final class SearchTimer: @unchecked Sendable {
    private let lock = NSLock()
    private var total: Duration = .zero

    var milliseconds: Int { lock.withLock { Int(total.seconds * 1000) } }

    func timing(_ finder: NeighbourFinder) -> NeighbourFinder { Timed(finder: finder, timer: self) }

    private struct Timed: NeighbourFinder {
        let finder: NeighbourFinder
        let timer: SearchTimer
        func neighbours(of sources: [Int]) throws -> [NeighbourSearch.List] {
            let clock = ContinuousClock.now
            defer { let spent = ContinuousClock.now - clock; timer.lock.withLock { timer.total += spent } }
            return try finder.neighbours(of: sources)
        }
    }
}

/// The lists a background search hands back.
private final class PendingLists: @unchecked Sendable {
    var result: Result<[NeighbourSearch.List], Error> = .success([])
}

// MARK: - NeighbourSearch

/// What every search returns, and the fill that keeps every list full.
enum NeighbourSearch {
    struct List {
        var source: Int
        /// The top-k, best first, the source itself left out.
        var hits: [ExactSearch.Hit]
        /// The hits, and in an incremental run the cached lists this new source is offered to, exactly scored.
        var candidates: [ExactSearch.Hit]
        /// Leading hits the cache already holds at the same ranks (a merged list): only the rows
        /// after them are rewritten.
        var kept = 0
    }

    /// Scores as the cache stores them: every hit and offer re-scored with `EmbeddingSet.dot` and the
    /// hits ranked by `ranksBefore`. GEMMs of different shapes round differently in the last bit, so a
    /// score from one run's GEMM and an offer from another's would not tie where the vectors do; the
    /// GEMMs choose the candidates, this one dot product decides. Offers are kept when they rank before
    /// their list's last entry (`floor`), the finders having let near-ties through.
    static func scoredExactly(_ list: List, embeddings: EmbeddingSet, floor: (Int) -> SimilarityPrecompute.ListFloor?,
                              topK: Int) -> List {
        let source = list.source
        let hits = list.hits.map { ExactSearch.Hit(index: $0.index, score: embeddings.dot(source, $0.index)) }.sorted(by: embeddings.ranksBefore)
        let known = Set(hits.map(\.index))
        let offers = list.candidates.filter { !known.contains($0.index) }.compactMap { offer -> ExactSearch.Hit? in
            let score = embeddings.dot(source, offer.index)
            return floor(offer.index)?.isBeaten(by: score, at: source, topK: topK) == true ? ExactSearch.Hit(index: offer.index, score: score) : nil
        }
        return List(source: source, hits: hits, candidates: hits + offers, kept: list.kept)
    }

    /// `scoredExactly` of every list, split over the cores (two million random-access dot products in a
    /// 100,000-video run).
    static func scoredExactly(_ lists: [List], embeddings: EmbeddingSet, floors: [Int: SimilarityPrecompute.ListFloor], topK: Int,
                              workers: Int = ProcessInfo.processInfo.activeProcessorCount) -> [List] {
        let parts = max(1, min(workers, lists.count / 256))
        guard parts > 1 else { return lists.map { scoredExactly($0, embeddings: embeddings, floor: { floors[$0] }, topK: topK) } }
        let output = UnsafeMutableBufferPointer<[List]>.allocate(capacity: parts)
        output.initialize(repeating: [])
        defer { _ = output.deinitialize(); output.deallocate() }
        nonisolated(unsafe) let results = output
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            results[part] = lists[(part * lists.count / parts)..<((part + 1) * lists.count / parts)].map {
                scoredExactly($0, embeddings: embeddings, floor: { floors[$0] }, topK: topK)
            }
        }
        return output.flatMap { $0 }
    }

    /// How far under a list's last score a GEMM's score may fall and still be offered (then decided by `scoredExactly`).
    static let offerMargin: Float = 1e-5

    /// Every list holds min(top-k, N − 1) neighbours: a source whose probed lists held too few
    /// (small or skewed data, sparse lists) is searched exactly over every vector instead.
    static func fillShortLists(_ lists: inout [List], embeddings: EmbeddingSet, topK: Int) {
        let wanted = min(topK, embeddings.count - 1)
        let short = lists.indices.filter { lists[$0].hits.count < wanted }
        guard !short.isEmpty else { return }
        let exact = ExactSearch.topK(queries: embeddings.gathered(short.map { lists[$0].source }), vectors: embeddings.vectors, dimension: embeddings.dimension,
                                     k: wanted, exclude: { lists[short[$0]].source })
        for (n, i) in short.enumerated() {
            lists[i].hits = exact[n].sorted(by: embeddings.ranksBefore)
            let known = Set(lists[i].candidates.map(\.index))
            lists[i].candidates += exact[n].filter { !known.contains($0.index) }
        }
    }
}

// MARK: - CacheWriter

/// Writes computed lists into the cache DB, with prod attached as `prod`: each batch in a transaction
/// of its own, or in the caller's (`write`).
/// Each list's rows carry its neighbours' natural keys (from `EmbeddingSet.keys`); a neighbour whose
/// video row is missing from prod (an embedding without its video, `unlisted`) is left out and the
/// ranks after it close up, so every list's ranks stay 1…n, best first (ties by rowid). A list's
/// `kept` leading rows stay as they are and only the rows after them are replaced (a merged list
/// whose new entries land low rewrites little); a cache that was empty when the writer was made has
/// nothing to replace.
///
/// The rows are bound through SQLite's C API (`BulkStatement`): the two million rows of a
/// 100,000-video run took 7 s through GRDB's argument arrays, temp tables and an INSERT … SELECT
/// joining prod for the neighbours' keys, and take 3.5 s this way (mostly SQLite's B-tree work).
struct CacheWriter {
    let embeddings: EmbeddingSet
    let computedAt: Int64
    /// Positions whose video row is missing from prod.
    private let unlisted: Set<Int>
    /// The cache held no lists when the writer was made.
    private let fresh: Bool

    /// - Throws: `DatabaseError` when prod or the cache cannot be read.
    init(embeddings: EmbeddingSet, computedAt: Int64, db: Database) throws {
        self.embeddings = embeddings
        self.computedAt = computedAt
        unlisted = Set(try embeddings.positions(db, of: """
            SELECT e.video_id, e.instance_domain FROM prod.video_embeddings e
            WHERE NOT EXISTS (SELECT 1 FROM prod.videos v WHERE v.video_id = e.video_id AND v.instance_domain = e.instance_domain)
            """))
        fresh = try !Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM similarity_items)")!
    }

    /// Rows bound to one statement when the batch is a transaction of its own.
    static let sourcesPerStatement = 128

    /// Writes `lists`: as one transaction of its own (a side file), or into the caller's (a live
    /// cache). SQLite copies each page that a savepoint, or a statement writing several rows that
    /// could abort halfway, first touches into a statement journal, so it could roll them back; with
    /// the cache's 64 KiB pages the refresh of 62,000 lists (100,000 videos + 5%) spent 3 of its 4.7 s
    /// copying them. So in the caller's transaction no savepoint is taken, a list's old rows go in one
    /// DELETE and its new ones come in one `INSERT OR FAIL` (which keeps what it wrote before a
    /// failure, so needs no statement journal: the failure ends the whole transaction anyway), and
    /// sources are upserted one to a statement.
    ///
    /// - Throws: `DatabaseError` when the cache cannot be written.
    func write(_ lists: [NeighbourSearch.List], db: Database) throws {
        if db.isInsideTransaction {
            try write(lists, sourcesPerStatement: 1, db: db)
        } else {
            try db.inSavepoint {
                try write(lists, sourcesPerStatement: Self.sourcesPerStatement, db: db)
                return .commit
            }
        }
    }

    private func write(_ lists: [NeighbourSearch.List], sourcesPerStatement: Int, db: Database) throws {
        var upsertSources = MultiRowInsert("INSERT OR REPLACE INTO similarity_sources(video_id, instance_domain, computed_at)", columns: 3)
        for first in stride(from: 0, to: lists.count, by: sourcesPerStatement) {
            let chunk = lists[first..<min(first + sourcesPerStatement, lists.count)]
            try upsertSources.statement(rows: chunk.count, db: db).run(db) { values in
                for (offset, list) in chunk.enumerated() {
                    let key = embeddings.keys[list.source], first = Int32(offset * 3)
                    values.text(first + 1, key.videoID)
                    values.text(first + 2, key.host)
                    values.integer(first + 3, computedAt)
                }
            }
        }
        // A list's rows after its kept ones go, then its new rows come in one statement (one VDBE run
        // per list, not per row).
        let replaced = try BulkStatement(db, sql: """
            DELETE FROM similarity_items WHERE source_video_id = ? AND source_instance_domain = ? AND rank > ?
            """)
        var insertItems = MultiRowInsert("""
            INSERT OR FAIL INTO similarity_items(source_video_id, source_instance_domain, rank, similar_video_id, similar_instance_domain, score)
            """, columns: 6)
        for list in lists {
            let key = embeddings.keys[list.source]
            if !fresh {
                try replaced.run(db) { $0.text(1, key.videoID); $0.text(2, key.host); $0.integer(3, Int64(list.kept)) }
            }
            let written = list.hits.sorted(by: embeddings.ranksBefore).dropFirst(list.kept).filter { !unlisted.contains($0.index) }
            guard !written.isEmpty else { continue }
            try insertItems.statement(rows: written.count, db: db).run(db) { values in
                for (offset, hit) in written.enumerated() {
                    let neighbour = embeddings.keys[hit.index], column = Int32(offset * 6)
                    values.text(column + 1, key.videoID)
                    values.text(column + 2, key.host)
                    values.integer(column + 3, Int64(list.kept + offset + 1))
                    values.text(column + 4, neighbour.videoID)
                    values.text(column + 5, neighbour.host)
                    values.real(column + 6, Double(hit.score))
                }
            }
        }
    }
}

