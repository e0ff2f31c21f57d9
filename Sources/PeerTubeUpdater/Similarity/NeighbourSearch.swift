import Foundation
import GRDB

/// Prod's valid embeddings in memory, L2-normalised, by position; with their keys and rowids.
struct EmbeddingSet: @unchecked Sendable {
    typealias Key = EmbeddingScan.Key

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
        position = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        positionOfRowID = Dictionary(uniqueKeysWithValues: rowids.enumerated().map { ($1, $0) })
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

    func vector(_ position: Int) -> ArraySlice<Float> { vectors[(position * dimension)..<((position + 1) * dimension)] }
}

// MARK: - NeighbourFinder

/// What the similarity stage searches with: lists for many sources at once, each with the
/// candidates it offers itself to (exactly scored). `NeighbourSearch` (ANN candidates re-ranked
/// exactly, the CPU path) and `DeviceExactSearch` (exact top-k on a GPU) are the two.
protocol NeighbourFinder {
    /// One list per source, in order.
    func neighbours(of sources: [Int]) throws -> [NeighbourSearch.List]
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

/// ANN candidates for many sources at once, re-ranked by exact inner product.
struct NeighbourSearch: NeighbourFinder, @unchecked Sendable {
    struct List {
        var source: Int
        /// The top-k, best first, the source itself left out.
        var hits: [ExactSearch.Hit]
        /// Every candidate the index returned, exactly scored.
        var candidates: [ExactSearch.Hit]
        /// Leading hits the cache already holds at the same ranks (a merged list): only the rows
        /// after them are rewritten.
        var kept = 0
    }

    let index: FaissIndex
    let embeddings: EmbeddingSet
    let topK: Int
    let nprobe: Int
    /// Candidates fetched per source for re-ranking (PQ scores are approximate); more for new videos
    /// in an incremental run, whose candidates also decide which old lists they enter.
    var pool: Int

    init(index: FaissIndex, embeddings: EmbeddingSet, topK: Int, nprobe: Int, pool: Int? = nil) {
        self.index = index
        self.embeddings = embeddings
        self.topK = topK
        self.nprobe = nprobe
        self.pool = pool ?? topK * 3 + 1
    }

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
        var lists = sources.enumerated().map { q, source in
            var candidates: [ExactSearch.Hit] = []
            candidates.reserveCapacity(pool)
            for id in found.ids[(q * pool)..<((q + 1) * pool)] where id >= 0 {  // FAISS returns each id once
                guard let position = embeddings.positionOfRowID[id], position != source else { continue }
                candidates.append(.init(index: position, score: embeddings.dot(source, position)))
            }
            candidates.sort { $0.score > $1.score }
            return List(source: source, hits: Array(candidates.prefix(topK)), candidates: candidates)
        }
        fillShortLists(&lists)
        return lists
    }

    /// Every list holds min(top-k, N − 1) neighbours: a source whose probed lists held too few
    /// candidates (small or skewed data, sparse lists) is searched exactly over every vector instead.
    private func fillShortLists(_ lists: inout [List]) {
        let wanted = min(topK, embeddings.count - 1)
        let short = lists.indices.filter { lists[$0].hits.count < wanted }
        guard !short.isEmpty else { return }
        var queries: [Float] = []
        queries.reserveCapacity(short.count * embeddings.dimension)
        for i in short { queries += embeddings.vector(lists[i].source) }
        let exact = ExactSearch.topK(queries: queries, vectors: embeddings.vectors, dimension: embeddings.dimension,
                                     k: wanted, exclude: { lists[short[$0]].source })
        for (n, i) in short.enumerated() {
            lists[i].hits = exact[n]
            let known = Set(lists[i].candidates.map(\.index))
            lists[i].candidates += exact[n].filter { !known.contains($0.index) }
        }
    }
}

// MARK: - CacheWriter

/// Writes computed lists into the cache DB, with prod attached as `prod`. Swift hands SQLite only
/// (source, neighbour rowid, score, rank) rows; one INSERT … SELECT per batch turns each neighbour's
/// rowid into its natural key, keeping only neighbours whose video row exists. A list's `kept`
/// leading rows stay as they are and only the rows after them are replaced (a merged list whose new
/// entries land low rewrites little). Ranks come from Swift (best first, ties by rowid); should the
/// join drop a neighbour (an embedding without its video row), the batch is ranked again in SQL so
/// every list's ranks stay 1…n (ranking in SQL always cost a sort of every row by its source's text
/// key: 3 s of a 71,000-list incremental run).
/// CROSS JOIN keeps SQLite driving from the small pending table through prod's keys (left to itself
/// it scanned prod and the unindexed temp table for every row: 10x slower).
struct CacheWriter {
    let embeddings: EmbeddingSet
    let computedAt: Int64

    static let setup = """
        CREATE TEMP TABLE IF NOT EXISTS pending_sources(video_id TEXT NOT NULL, instance_domain TEXT NOT NULL,
                                                        kept INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS temp.pending_sources_key ON pending_sources(video_id, instance_domain);
        CREATE TEMP TABLE IF NOT EXISTS pending_items(source INTEGER NOT NULL, -- pending_sources.rowid
                                                      neighbour_rowid INTEGER NOT NULL, score REAL NOT NULL, rank INTEGER NOT NULL);
        """

    func write(_ lists: [NeighbourSearch.List], db: Database) throws {
        try db.inSavepoint {
            try db.execute(sql: "DELETE FROM pending_sources; DELETE FROM pending_items")
            let source = try db.makeStatement(sql: "INSERT INTO pending_sources VALUES (?, ?, ?)")
            let item = try db.makeStatement(sql: "INSERT INTO pending_items VALUES (?, ?, ?, ?)")
            var items = 0
            for list in lists {
                let key = embeddings.keys[list.source]
                try source.execute(arguments: [key.videoID, key.host, list.kept])
                let sourceRow = db.lastInsertedRowID
                let ranked = list.hits.sorted(by: embeddings.ranksBefore)
                for (rank, hit) in ranked.enumerated().dropFirst(list.kept) {
                    try item.execute(arguments: [sourceRow, embeddings.rowids[hit.index], Double(hit.score), rank + 1])
                    items += 1
                }
            }
            try db.execute(sql: Self.deleteReplacedRows)
            try db.execute(sql: """
                INSERT INTO similarity_sources(video_id, instance_domain, computed_at)
                    SELECT video_id, instance_domain, ? FROM pending_sources WHERE true
                    ON CONFLICT(video_id, instance_domain) DO UPDATE SET computed_at = excluded.computed_at;
                """, arguments: [computedAt])
            try db.execute(sql: Self.insert(rank: "p.rank"))
            if db.changesCount != items {
                // A neighbour without its video row was left out: rank the batch's new rows again.
                try db.execute(sql: Self.deleteReplacedRows)
                try db.execute(sql: Self.insert(rank: "s.kept + row_number() OVER (PARTITION BY p.source ORDER BY p.rank)"))
            }
            return .commit
        }
    }

    /// The pending lists' rows after their kept ones.
    private static let deleteReplacedRows = """
        DELETE FROM similarity_items WHERE (source_video_id, source_instance_domain)
            IN (SELECT video_id, instance_domain FROM pending_sources)
            AND rank > (SELECT kept FROM pending_sources s
                        WHERE s.video_id = source_video_id AND s.instance_domain = source_instance_domain)
        """

    private static func insert(rank: String) -> String {
        """
        INSERT INTO similarity_items(source_video_id, source_instance_domain, similar_video_id, similar_instance_domain,
                                     score, rank)
        SELECT s.video_id, s.instance_domain, e.video_id, e.instance_domain, p.score, \(rank)
        FROM pending_items p
        CROSS JOIN pending_sources s ON s.rowid = p.source
        CROSS JOIN prod.video_embeddings e ON e.rowid = p.neighbour_rowid
        CROSS JOIN prod.videos v ON v.video_id = e.video_id AND v.instance_domain = e.instance_domain
        """
    }
}
