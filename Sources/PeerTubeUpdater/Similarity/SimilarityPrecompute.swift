import Foundation
import GRDB
import Logging

public enum SimilarityError: Error, CustomStringConvertible, Equatable {
    case noEmbeddings(path: String)
    case dimensionMismatch(index: Int, database: Int)
    case badParameters(String)

    public var description: String {
        switch self {
        case .noEmbeddings(let path):
            return "similarity: \(path) holds no usable embeddings"
        case let .dimensionMismatch(index, database):
            return "similarity: the index holds \(index)-d vectors but the DB's embeddings are \(database)-d; rebuild the index"
        case .badParameters(let message):
            return "similarity: \(message)"
        }
    }
}

// MARK: - SimilarityPrecompute

/// The similarity stage: every prod video's top-k most similar videos, cached as ids, score and rank
/// (readers join the neighbours' metadata from prod).
///
/// An incremental run updates the live cache in one SQLite transaction (WAL mode): readers keep
/// their snapshot until the commit, a crash leaves the old state, and the cost grows with what
/// changed. A fresh cache, `--reset`, or a cache in the earlier wide format is built in a side file
/// and published by one rename, the previous kept as `.prev`. Either way readers see the old cache
/// or the new one, never a half-written one. On the CPU the exact vectors are searched list by list
/// over the ANN index's coarse lists (`ListBlockedSearch`: one GEMM per list, every core), so scores
/// are true cosines and a neighbour is missed only when no probed list holds it. On a GPU
/// (`device: .gpu`) every list is an exact top-k over all prod vectors (`DeviceExactSearch`), and a new
/// video's offers to old lists are exact too.
public enum SimilarityPrecompute {
    public enum Selection: String, Sendable { case incremental, reset }

    public struct Options: Sendable {
        public var selection: Selection = .incremental
        public var topK = 20
        public var nprobe = 16
        /// Sources per write transaction (searches take `searchBatchSize` at a time).
        public var batchSize = 2_048
        /// The index's meta (nil: beside the index, `UpdaterDefaults.indexMetaPath`): when it was built from
        /// prod as it is now, an incremental run takes each vector's list from the index instead of
        /// assigning every vector again.
        public var indexMetaPath: String?
        /// `.gpu`: exact search on a device in fp32 (TF32 would round scores and change lists), no CPU fallback.
        public var device: ComputeDevice = .cpu
        public init(selection: Selection = .incremental, topK: Int = 20, nprobe: Int = 16, device: ComputeDevice = .cpu) {
            self.selection = selection
            self.topK = topK
            self.nprobe = nprobe
            self.device = device
        }

        /// Sources searched together: each list's (or GPU score block's) GEMM gets enough of them.
        static let searchBatchSize = 16_384
        /// A device's score blocks (nil: sized from its free memory).
        var deviceBlocks: DeviceExactSearch.Blocks?
    }

    public struct Result: Sendable, Equatable {
        /// Sources computed for the first time.
        public var newSources: Int
        /// Existing sources recomputed: a new video entered their top-k, or a neighbour vanished.
        public var refreshedSources: Int
        /// Sources dropped because their video left prod.
        public var removedSources: Int
        public var durationMs: Int
        /// Of it, the searches (the rest: loading vectors, planning, writing the cache).
        public var searchMs = 0
    }

    /// `tensorDevice`: where `device: .gpu` searches (default: the CUDA device; tests pass `HostDevice`).
    ///
    /// - Throws: `SimilarityError`, `StorageError`, `FaissError` or `DatabaseError`, `GPUUnavailable` or
    ///   `DeviceError` on a GPU (no CPU fallback); the published cache stays as it was.
    public static func run(dbPath: String, indexPath: String, outPath: String, options: Options = .init(),
                           logger: Logger, on tensorDevice: TensorDevice? = nil) throws -> Result {
        guard options.topK > 0, options.nprobe > 0, options.batchSize > 0 else {
            throw SimilarityError.badParameters("top-k, nprobe and batch size must be > 0")
        }
        if options.device == .gpu, tensorDevice == nil { try GPUStages.require([.similarity]) }
        let clock = ContinuousClock.now
        var phases = PhaseTimes()
        let prod = try DatabaseFile.open(dbPath, role: "prod DB", access: .readOnly)
        // Read before the vectors: should prod change meanwhile, the next run sees a difference.
        let inputs = try prod.read { db in
            try DatabaseFile.requireTables(["video_embeddings", "videos"], in: db, role: "prod DB", path: dbPath)
            return try SimilarityInputs.current(db, prod: nil, topK: options.topK, nprobe: options.nprobe)
        }
        let index = try FaissIndex.read(indexPath)
        if options.selection == .incremental, index.dimension == inputs.dimension, try Self.isLiveUpdatable(outPath),
           try DatabaseFile.open(outPath, role: "similarity cache", access: .readOnly).read(SimilarityInputs.stored) == inputs {
            let result = Result(newSources: 0, refreshedSources: 0, removedSources: 0, durationMs: clock.elapsedMilliseconds)
            logger.info("similarity: prod's embeddings are unchanged since \(outPath) was computed; nothing to do (\(result.durationMs)ms)")
            return result
        }
        let embeddings = try EmbeddingSet(prod, dbPath: dbPath)
        phases.lap("loading vectors")
        guard index.dimension == embeddings.dimension else {
            throw SimilarityError.dimensionMismatch(index: index.dimension, database: embeddings.dimension)
        }
        FaissIndex.setThreads(openMP: 1, blas: 1)
        let centroids = options.device == .gpu ? [] : try index.coarseCentroids()
        // Large search batches keep the GEMMs large; the writes still commit `batchSize` sources at a time.
        let batchSize = max(options.batchSize, Options.searchBatchSize)
        let computedAt = Int64(Date().timeIntervalSince1970 * 1000)
        var result = Result(newSources: 0, refreshedSources: 0, removedSources: 0, durationMs: 0)

        /// Plans, searches and writes the lists into `db` (the cache as `main`, prod attached as `prod`).
        func update(_ db: Database, reset: Bool) throws {
            try db.execute(sql: Schema.similarityCache)
            let plan = try Plan(db: db, embeddings: embeddings, reset: reset)
            result.removedSources = plan.removed
            phases.lap("planning")
            let searchingEvery = plan.new.count == embeddings.count
            let filed = options.device == .gpu || searchingEvery ? nil
                : try Self.filedLists(index, built: options.indexMetaPath ?? UpdaterDefaults().indexMetaPath(forIndex: indexPath),
                                      from: inputs, embeddings: embeddings)
            let finder: OfferingFinder = options.device == .gpu
                ? try DeviceExactSearch(device: try tensorDevice ?? CUDADevice.open(precision: .fp32), embeddings: embeddings,
                                        topK: options.topK, blocks: options.deviceBlocks)
                : try ListBlockedSearch(centroids: centroids, embeddings: embeddings, topK: options.topK, nprobe: options.nprobe,
                                        searchingEvery: searchingEvery, filed: filed)
            phases.lap(options.device == .gpu ? "uploading vectors" : "assigning lists")
            logger.info("similarity: sources=\(embeddings.count) new=\(plan.new.count) stale=\(plan.stale.count) removed=\(plan.removed) top_k=\(options.topK) search=\(finder.label)")

            let timer = SearchTimer()
            let search = timer.timing(finder)
            let writer = try CacheWriter(embeddings: embeddings, computedAt: computedAt, db: db)
            var progress = ProgressLine(label: "similarity", total: plan.new.count, unit: "videos")
            // New videos first, each offered to the cached lists it beats the k-th neighbour of
            // (exactly scored): those offers decide which old lists they enter.
            if !plan.floor.isEmpty { try finder.offering(to: plan.floor, topK: options.topK) }
            var offers: [Int: [ExactSearch.Hit]] = [:]  // old video → new videos and their exact scores against it
            try search.pipelined(Self.batches(plan.new, size: batchSize)) { lists in
                try writer.write(lists, db: db)
                try FaultPlan.reach(.similarityBatch)
                for list in lists {
                    for candidate in list.candidates where plan.floor[candidate.index] != nil {
                        offers[candidate.index, default: []].append(ExactSearch.Hit(index: list.source, score: candidate.score))
                    }
                }
                progress.advance(by: lists.count, logger: logger)
            }
            phases.lap("new videos")
            // A full old list that only new videos change is merged without a search: the best k of its
            // cached neighbours and the offers. Stale lists (a neighbour gone or re-embedded) and
            // short ones are searched again.
            let entered = plan.listsToRefresh(offeredBy: offers, topK: options.topK)
            let merged = embeddings.inKeyOrder(entered.filter { !plan.stale.contains($0) && (plan.floor[$0]?.count ?? 0) >= options.topK })
            let searched = entered.subtracting(merged).union(plan.stale).sorted()
            var refreshing = ProgressLine(label: "similarity refresh", total: searched.count + merged.count, unit: "old lists")
            finder.stopOffering()
            try search.pipelined(Self.batches(searched, size: batchSize)) { lists in
                try writer.write(lists, db: db)
                refreshing.advance(by: lists.count, logger: logger)
            }
            for batch in Self.batches(merged, size: options.batchSize) {
                try writer.write(try CachedListMerge.merge(batch, offers: offers, embeddings: embeddings, topK: options.topK, db: db), db: db)
                refreshing.advance(by: batch.count, logger: logger)
            }
            result.refreshedSources = searched.count + merged.count
            result.newSources = plan.new.count
            result.searchMs = timer.milliseconds
            try inputs.store(in: db, computedAt: computedAt)
            phases.lap("old lists")
        }

        if options.selection == .incremental, try Self.isLiveUpdatable(outPath) {
            // One transaction on the live cache in WAL mode: readers keep their snapshot until the
            // commit, a crash leaves the old state, and nothing is copied: the cost is what changed.
            // Prod is read through SQLite's small page cache, not mapped: a mapped prod's pages count
            // in the process's resident memory, and the re-embedding check scans its embeddings
            // (2 GB more at 1,000,000 videos; the vectors the search needs are already in memory).
            let cache = try DatabaseFile.open(outPath, role: "similarity cache", access: .readWrite)
            try cache.withAttached(dbPath, as: "prod") { db in
                try db.execute(sql: """
                    PRAGMA main.journal_mode = WAL; PRAGMA main.synchronous = NORMAL;
                    PRAGMA main.cache_size = -524288; PRAGMA prod.mmap_size = 0
                    """)
                try db.inTransaction(.immediate) {
                    try update(db, reset: false)
                    return .commit
                }
            }
        } else {
            // A fresh cache, a --reset, or one in the earlier format: built in a side file and
            // published by one rename, the previous kept as .prev; or, while a reader holds the live
            // cache, committed into it in one transaction (LiveCacheReplacement).
            do { try ArtifactPublisher.publish(to: outPath) { side in
                let migrating = options.selection == .incremental && FileManager.default.fileExists(atPath: outPath)
                if migrating { try FileCopy.copy(outPath, to: side) }
                let cache = try DatabaseFile.open(side, role: "similarity cache", access: .create)
                try cache.withAttached(dbPath, as: "prod") { db in
                    // The side file is scratch until published (fsync, then rename): no journal needed.
                    // 64 KiB pages (a new file only) and a 512 MiB page cache: the cache is written in
                    // hundreds of megabytes. Prod is read, not mapped (as above).
                    try db.execute(sql: """
                        PRAGMA main.page_size = 65536; PRAGMA main.journal_mode = OFF; PRAGMA main.synchronous = OFF;
                        PRAGMA main.cache_size = -524288; PRAGMA prod.mmap_size = 0
                        """)
                    if migrating, try Self.migrateWideCache(db) {
                        logger.info("similarity: migrated the cache from the wide format (neighbour metadata copies dropped; readers join prod)")
                    }
                    try update(db, reset: options.selection == .reset)
                    // Readers of the published file get WAL too (incremental runs update it in place).
                    try db.execute(sql: "PRAGMA main.journal_mode = WAL")
                }
                if FileManager.default.fileExists(atPath: outPath), try !LiveCacheReplacement.releaseForRename(outPath) {
                    try LiveCacheReplacement.commit(from: side, into: outPath)
                    logger.info("similarity: a reader holds \(outPath): the new lists were committed into it in one transaction instead of renaming a file over it")
                    throw LiveCacheReplacement.CommittedInPlace()
                }
            } } catch is LiveCacheReplacement.CommittedInPlace {}
        }
        phases.lap("committing")
        result.durationMs = clock.elapsedMilliseconds
        let rate = Double(result.newSources + result.refreshedSources) / max(Double(result.durationMs) / 1000, 0.001)
        logger.info("similarity: new=\(result.newSources) refreshed=\(result.refreshedSources) removed=\(result.removedSources) in \(result.durationMs)ms (\(String(format: "%.0f", rate)) videos/s; searching \(result.searchMs)ms; \(phases)); published \(outPath)")
        return result
    }

    /// Each vector's list (by position) as the index filed it, when the index's meta says it was built
    /// from prod's embeddings as they are now (their fingerprint); -1 for a vector it lacks. Nil for an
    /// index of another prod, or without a readable meta: the search then assigns every vector (at
    /// 1,000,000 videos a GEMM against 5,128 centroids, half a minute on 2 cores).
    ///
    /// - Throws: `FaissError` for inverted lists that disagree with the index's ids.
    static func filedLists(_ index: FaissIndex, built metaPath: String, from inputs: SimilarityInputs,
                           embeddings: EmbeddingSet) throws -> [Int32]? {
        guard let meta = try? ANNMeta.read(metaPath), meta.embeddingsFingerprint == inputs.embeddings,
              meta.idSource == ANNMeta.rowidSource else { return nil }
        let (ids, lists) = try index.listAssignment()
        var filed = [Int32](repeating: -1, count: embeddings.count)
        for (id, list) in zip(ids, lists) {
            if let position = embeddings.position(ofRowID: id) { filed[position] = list }
        }
        return filed
    }

    /// True when the cache at `path` exists in the current format, so an incremental run can update
    /// it in place.
    static func isLiveUpdatable(_ path: String) throws -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return false }
        return try DatabaseFile.open(path, role: "similarity cache", access: .readOnly).read { db in
            try db.hasTable("similarity_items") && !isEarlierFormat(db)
        }
    }

    /// The earlier wide format: `similar_<field>` copies of each neighbour's row, a rowid table.
    static func isEarlierFormat(_ db: Database) throws -> Bool {
        let columns = try db.columnNames(of: "similarity_items", in: "main")
        let hasRowID = (try? db.makeStatement(sql: "SELECT rowid FROM main.similarity_items LIMIT 0")) != nil
        return Set(columns) != Set(Schema.similarityItemColumns) || hasRowID
    }

    /// A cache of the earlier wide format (`similar_title`, … copies of each neighbour's video row,
    /// a rowid table with a second index) becomes the slim one: ids, score and rank kept, the copies
    /// dropped, the file vacuumed. Returns whether it migrated.
    static func migrateWideCache(_ db: Database) throws -> Bool {
        guard try db.hasTable("similarity_items", in: "main"), try isEarlierFormat(db) else { return false }
        let kept = Schema.similarityItemColumns.joined(separator: ", ")
        try db.inTransaction {
            try db.execute(sql: "ALTER TABLE main.similarity_items RENAME TO similarity_items_wide")
            try db.execute(sql: "DROP INDEX IF EXISTS main.similarity_source_rank_idx")
            try db.execute(sql: Schema.similarityCache)
            try db.execute(sql: "INSERT INTO main.similarity_items(\(kept)) SELECT \(kept) FROM main.similarity_items_wide ORDER BY 1, 2, 3")
            try db.execute(sql: "DROP TABLE main.similarity_items_wide")
            return .commit
        }
        try db.execute(sql: "VACUUM main")  // the side file sheds the copies' pages
        return true
    }

    static func batches(_ items: [Int], size: Int) -> [[Int]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0..<min($0 + size, items.count)]) }
    }

    /// Which sources to compute, from what the cache (schema main, prod attached) already holds.
    struct Plan {
        /// Positions (into `embeddings`) of videos with no cached list, or re-embedded since it was computed.
        var new: [Int] = []
        /// Positions of cached sources one of whose neighbours left prod, or was re-embedded after the
        /// list was computed.
        var stale = Set<Int>()
        var removed = 0
        /// The last entry and length of each cached source's list (by position).
        var floor: [Int: ListFloor] = [:]

        init(db: Database, embeddings: EmbeddingSet, reset: Bool) throws {
            if reset { try db.execute(sql: "DELETE FROM similarity_items; DELETE FROM similarity_sources") }
            var cached = Set<Int>()
            var removed = 0
            var floor: [Int: ListFloor] = [:]
            var stale = Set<Int>()
            do {
                // Videos that left prod: every cached video is a source, so they are the sources
                // prod no longer holds (one probe per source, not per item).
                try db.execute(sql: """
                    CREATE TEMP TABLE gone_sources(video_id TEXT, instance_domain TEXT, PRIMARY KEY (video_id, instance_domain)) WITHOUT ROWID;
                    INSERT INTO temp.gone_sources SELECT video_id, instance_domain FROM similarity_sources s
                    WHERE NOT EXISTS (SELECT 1 FROM prod.video_embeddings e WHERE e.video_id = s.video_id AND e.instance_domain = s.instance_domain)
                    """)
                defer { try? db.execute(sql: "DROP TABLE IF EXISTS temp.gone_sources") }
                let anyGone = try Int.fetchOne(db, sql: "SELECT count(*) FROM temp.gone_sources") ?? 0 > 0
                if anyGone {
                    // Their lists go, and every list naming one of them is stale.
                    stale.formUnion(try embeddings.positions(db, of: """
                        SELECT DISTINCT source_video_id, source_instance_domain FROM similarity_items
                        WHERE (similar_video_id, similar_instance_domain) IN (SELECT video_id, instance_domain FROM temp.gone_sources)
                        """))
                    try db.inSavepoint {
                        try db.execute(sql: """
                            DELETE FROM similarity_items WHERE (source_video_id, source_instance_domain)
                                IN (SELECT video_id, instance_domain FROM temp.gone_sources);
                            DELETE FROM similarity_sources WHERE (video_id, instance_domain)
                                IN (SELECT video_id, instance_domain FROM temp.gone_sources);
                            """)
                        removed = db.changesCount
                        return .commit
                    }
                }
                cached = Set(try embeddings.positions(db, of: "SELECT video_id, instance_domain FROM similarity_sources"))
                // Videos re-embedded (their text changed) since their list was computed are computed
                // again like new ones, and every list computed before a neighbour's re-embedding is
                // stale. Embeddings written since the oldest list (new and re-embedded videos: few)
                // are collected first, so the per-item check is a probe into a small table (12 s
                // when every item's neighbour time was computed, at 100,000 videos). With no list
                // cached (a first run, --reset) there is nothing to check, and prod's embeddings are
                // not read through (a scan of every row).
                if !cached.isEmpty {
                    try db.execute(sql: """
                        CREATE TEMP TABLE recent_embeddings(video_id TEXT, instance_domain TEXT, written_at REAL,
                                                            PRIMARY KEY (video_id, instance_domain)) WITHOUT ROWID;
                        INSERT INTO temp.recent_embeddings
                        SELECT video_id, instance_domain, (julianday(created_at) - 2440587.5) * 86400000.0 AS written_at
                        FROM prod.video_embeddings WHERE written_at >= (SELECT min(computed_at) FROM similarity_sources)
                        """)
                    defer { try? db.execute(sql: "DROP TABLE IF EXISTS temp.recent_embeddings") }
                    if try Int.fetchOne(db, sql: "SELECT count(*) FROM temp.recent_embeddings") ?? 0 > 0 {
                        cached.subtract(try embeddings.positions(db, of: """
                            SELECT s.video_id, s.instance_domain FROM temp.recent_embeddings r
                            JOIN similarity_sources s ON s.video_id = r.video_id AND s.instance_domain = r.instance_domain
                            WHERE r.written_at >= s.computed_at
                            """))
                        stale.formUnion(try embeddings.positions(db, of: """
                            SELECT DISTINCT i.source_video_id, i.source_instance_domain FROM similarity_items i
                            JOIN temp.recent_embeddings r ON r.video_id = i.similar_video_id AND r.instance_domain = i.similar_instance_domain
                            JOIN similarity_sources s ON s.video_id = i.source_video_id AND s.instance_domain = i.source_instance_domain
                            WHERE r.written_at >= s.computed_at
                            """))
                    }
                }
                // The last-ranked entry of each list: two index seeks per source (a GROUP BY over every
                // item cost 0.9 s at 100,000 videos). Ranks run 1…n (CacheWriter), so the last is the count.
                let lasts = try BulkStatement(db, sql: """
                    SELECT i.source_video_id, i.source_instance_domain, i.rank, i.score, i.similar_video_id, i.similar_instance_domain
                    FROM similarity_sources s
                    JOIN similarity_items i ON i.source_video_id = s.video_id AND i.source_instance_domain = s.instance_domain
                        AND i.rank = (SELECT max(rank) FROM similarity_items m
                                      WHERE m.source_video_id = s.video_id AND m.source_instance_domain = s.instance_domain)
                    """)
                floor.reserveCapacity(cached.count)
                try lasts.forEachRow(db, { _ in }) { row in
                    guard let position = embeddings.keyTable.position(videoID: row.text(0), host: row.text(1)) else { return }
                    floor[position] = ListFloor(score: row.isNull(3) ? -1 : Float(row.real(3)), count: Int(row.integer(2)),
                                                last: embeddings.keyTable.position(videoID: row.text(4), host: row.text(5)))
                }
            }
            // In key order: the cache's primary key (source keys first) then grows at its end instead
            // of taking millions of random inserts.
            self.new = embeddings.inKeyOrder((0..<embeddings.count).filter { !cached.contains($0) })
            self.stale = stale.subtracting(self.new)
            self.removed = removed
            self.floor = floor
        }

        /// Cached sources whose last entry a new video now ranks before, or whose list is short.
        func listsToRefresh(offeredBy offers: [Int: [ExactSearch.Hit]], topK: Int) -> Set<Int> {
            var refresh = Set<Int>()
            for (old, offered) in offers {
                guard let floor = floor[old] else { continue }
                if offered.contains(where: { floor.isBeaten(by: $0.score, at: $0.index, topK: topK) }) { refresh.insert(old) }
            }
            return refresh
        }
    }

    /// A cached list's last (k-th) entry: what a new video must rank before to enter it, by the cache's
    /// order (`EmbeddingSet.ranksBefore`: a higher score, or an equal one and a lower position).
    struct ListFloor: Sendable {
        var score: Float
        var count: Int
        /// The last entry's position (nil: its video left prod; an equal score then enters).
        var last: Int?

        func isBeaten(by score: Float, at position: Int, topK: Int) -> Bool {
            count < topK || score > self.score || (score == self.score && position < (last ?? Int.max))
        }

        /// As the offer kernels read it: the score to beat (-inf for a short list) and the position.
        func threshold(topK: Int) -> (score: Float, position: Int32) {
            (count < topK ? -.infinity : score, Int32(clamping: last ?? Int(Int32.max)))
        }
    }
}
