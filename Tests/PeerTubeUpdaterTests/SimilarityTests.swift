import Foundation
import GRDB
import Logging
import Testing
@testable import PeerTubeUpdater

/// A prod whose embeddings form topics: each video's vector is its topic's centre plus noise, so
/// neighbours should share the topic, and exact search gives the true top-k.
struct TopicCorpus {
    static let topics = 20
    let dir: TempDir
    var prod: String { dir.path("prod.db") }
    var index: String { dir.path("index.faiss") }
    var cache: String { dir.path("similarity.db") }
    private var centres: [[Float]] = []

    init() throws {
        dir = try TempDir()
        var rng = SplitMix64(state: 99)
        centres = (0..<Self.topics).map { _ in Self.unit((0..<384).map { _ in Float.random(in: -1...1, using: &rng) }) }
        try makeDatabase(at: prod, prod: true).write { db in
            try insertChannel("c1", "a.example", db)
        }
    }

    static func unit(_ v: [Float]) -> [Float] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / n }
    }

    static func topic(of videoID: String) -> Int { Int(videoID.split(separator: "-")[1])! }

    /// Adds videos `range` (topic = index % topics) with their embeddings.
    func add(_ range: Range<Int>) throws {
        try DatabaseFile.open(prod, role: "test", access: .readWrite).write { db in
            for i in range {
                var rng = SplitMix64(state: UInt64(i) &* 7919)
                let topic = i % Self.topics
                let vector = Self.unit(zip(centres[topic], (0..<384).map { _ in Float.random(in: -1...1, using: &rng) })
                    .map { $0 + 0.06 * $1 })
                let id = "v-\(topic)-\(i)"
                try VideoRow(id: id, host: "a.example", title: "Video \(i)").insert(db)
                try db.execute(sql: """
                    INSERT INTO video_embeddings(video_id, instance_domain, embedding, embedding_dim, model_name, created_at)
                    VALUES (?, 'a.example', ?, 384, 'all-MiniLM-L6-v2', '2026-01-01T00:00:00+00:00')
                    """, arguments: [id, EmbeddingBlob.encode(vector)])
            }
        }
    }

    /// As the worker builds it: an nlist the data cannot train is lowered.
    func buildIndex(nlist: Int = 16) throws {
        _ = try ANNBuild.run(dbPath: prod, indexPath: index, metaPath: index + ".json",
                             options: .init(nlist: nlist, lowerNlistToFit: true), logger: quietLogger)
    }

    func precompute(_ selection: SimilarityPrecompute.Selection, out: String? = nil, nprobe: Int = 16) throws -> SimilarityPrecompute.Result {
        try SimilarityPrecompute.run(dbPath: prod, indexPath: index, outPath: out ?? cache,
                                     options: .init(selection: selection, nprobe: nprobe), logger: quietLogger)
    }

    /// Cached lists by video id (one host here), neighbours in rank order.
    func lists(_ path: String? = nil) throws -> [String: [String]] {
        Self.byID(try SimilarityQuality.cachedLists(cachePath: path ?? cache))
    }

    /// Every list of the cache reads ranks 1…n with n = `length`, scores never rising with rank, and no
    /// neighbour twice: what an incremental run that rewrites only lists' tails must leave.
    func expectWellFormed(length: Int, _ path: String? = nil) throws {
        try DatabaseFile.open(path ?? cache, role: "test", access: .readOnly).read { db in
            let shapes = try Row.fetchAll(db, sql: """
                SELECT count(*), min(rank), max(rank), count(DISTINCT similar_video_id || '@' || similar_instance_domain)
                FROM similarity_items GROUP BY source_video_id, source_instance_domain
                """)
            #expect(!shapes.isEmpty)
            #expect(shapes.allSatisfy { $0[0] == length && $0[1] == 1 && $0[2] == length && $0[3] == length })
            let rising = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM similarity_items a JOIN similarity_items b
                ON b.source_video_id = a.source_video_id AND b.source_instance_domain = a.source_instance_domain
                   AND b.rank = a.rank + 1
                WHERE b.score > a.score
                """)
            #expect(rising == 0)
        }
    }

    /// Exact top-20 of every video, by video id.
    func exact() throws -> [String: [String]] { Self.byID(try SimilarityQuality.exactLists(prodPath: prod)) }

    static func byID(_ lists: [SimilarityQuality.VideoKey: [SimilarityQuality.VideoKey]]) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: lists.map { ($0.key.videoID, $0.value.map(\.videoID)) })
    }

    static func recall(_ lists: [String: [String]], against exact: [String: [String]]) -> Double {
        func keyed(_ l: [String: [String]]) -> [SimilarityQuality.VideoKey: [SimilarityQuality.VideoKey]] {
            Dictionary(uniqueKeysWithValues: l.map { (.init(videoID: $0.key, host: "a.example"), $0.value.map { .init(videoID: $0, host: "a.example") }) })
        }
        return SimilarityQuality.recall(keyed(lists), against: keyed(exact))
    }
}

@Suite struct SimilarityTests {
    /// Every list holds min(top-k, N − 1) neighbours, however few vectors there are and however the
    /// probed lists fall: tiny prods, and skewed data searched with one probe of many lists.
    @Test(arguments: [(videos: 12, nlist: 16, nprobe: 16), (videos: 30, nlist: 16, nprobe: 16), (videos: 2_600, nlist: 64, nprobe: 1)])
    func everyListIsFull(videos: Int, nlist: Int, nprobe: Int) throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<videos)
        try corpus.buildIndex(nlist: nlist)
        _ = try corpus.precompute(.reset, nprobe: nprobe)
        let lists = try corpus.lists()
        #expect(lists.count == videos)
        let wanted = min(20, videos - 1)
        let short = lists.filter { $0.value.count != wanted }
        #expect(short.count == 0, "\(short.count) lists not of \(wanted): \(short.prefix(3).map { "\($0.key): \($0.value.count)" })")
        #expect(lists.allSatisfy { !$0.value.contains($0.key) && Set($0.value).count == $0.value.count })
    }

    /// A cache of the earlier wide format (copies of each neighbour's video row) is migrated by the
    /// next incremental run: ids, scores and ranks kept, the copies gone, the file smaller, and the
    /// reader's join from prod gives the metadata back.
    @Test func aWideCacheIsMigratedToTheSlimFormat() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<300)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        let slimLists = try corpus.lists()
        try DatabaseFile.open(corpus.cache, role: "test", access: .readWrite).write { db in
            for column in ["similar_title TEXT", "similar_description TEXT", "similar_views INTEGER"] {
                try db.execute(sql: "ALTER TABLE similarity_items ADD COLUMN \(column)")
            }
            try db.execute(sql: "UPDATE similarity_items SET similar_title = 'a title', similar_description = ?, similar_views = 7",
                           arguments: [String(repeating: "a long description ", count: 40)])
        }
        let wideSize = try FileManager.default.attributesOfItem(atPath: corpus.cache)[.size] as! Int
        _ = try corpus.precompute(.incremental)
        try DatabaseFile.open(corpus.cache, role: "test", access: .readOnly).read { (db: Database) throws in
            #expect(try db.columnNames(of: "similarity_items") == Schema.similarityItemColumns)
            #expect(try db.integrityCheck() == ["ok"])
        }
        #expect(try corpus.lists() == slimLists)
        let slimSize = try FileManager.default.attributesOfItem(atPath: corpus.cache)[.size] as! Int
        #expect(slimSize * 2 < wideSize, "\(slimSize) bytes after, \(wideSize) before")
        // The reader's query (README): neighbours in rank order with their metadata from prod.
        let titles = try DatabaseFile.open(corpus.cache, role: "test", access: .readOnly).read { db in
            try db.execute(sql: "ATTACH DATABASE ? AS prod", arguments: [corpus.prod])
            return try String.fetchAll(db, sql: """
                SELECT v.title FROM similarity_items i
                JOIN prod.videos v ON v.video_id = i.similar_video_id AND v.instance_domain = i.similar_instance_domain
                WHERE i.source_video_id = ? AND i.source_instance_domain = ? ORDER BY i.rank
                """, arguments: [slimLists.keys.sorted()[0], "a.example"])
        }
        #expect(titles.count == 20 && titles.allSatisfy { $0.hasPrefix("Video ") })
    }

    /// An incremental run updates the live cache in place, in one transaction (WAL): the file is
    /// the same inode, no copy, no `.prev`; a reader that began before it keeps its snapshot.
    @Test func anIncrementalRunUpdatesTheLiveCacheInPlace() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<200)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        func inode(_ path: String) throws -> UInt64 {
            (try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        }
        let before = try inode(corpus.cache)
        #expect(!FileManager.default.fileExists(atPath: corpus.cache + ".prev"))  // the first build had no predecessor
        // A reader holding a snapshot from before the update.
        let reader = try DatabasePool(path: corpus.cache)
        let snapshotCount = try reader.read { db in
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM similarity_sources") ?? 0
            try corpus.add(200..<220)
            try corpus.buildIndex()
            let result = try corpus.precompute(.incremental)
            #expect(result.newSources == 20 && result.refreshedSources > 0)
            // Still the snapshot it began with, inside the same read transaction.
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM similarity_sources") == count)
            return count
        }
        #expect(snapshotCount == 200)
        #expect(try reader.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM similarity_sources") } == 220)
        try corpus.expectWellFormed(length: 20)
        try reader.close()
        #expect(try inode(corpus.cache) == before)
        #expect(!FileManager.default.fileExists(atPath: corpus.cache + ".prev"))
        let mode = try DatabaseFile.open(corpus.cache, role: "test", access: .readOnly).read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        // A no-op run changes nothing.
        let noop = try corpus.precompute(.incremental)
        #expect(noop.newSources == 0 && noop.refreshedSources == 0)
    }

    /// A run with nothing new stops after comparing prod's embeddings with what the cache recorded,
    /// before loading any vector. A re-embedded row, a removed row, or other search parameters make
    /// it plan and search again.
    @Test func aNoOpRunStopsAtTheFingerprintAndAnyChangeIsNoticed() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<120)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        let lists = try corpus.lists()
        /// Runs an incremental precompute; true when it stopped at the fingerprint.
        func stoppedEarly(nprobe: Int = 16) throws -> Bool {
            let log = corpus.dir.path("run-\(UUID().uuidString).log")
            let sink = try LineLogHandler.Sink(stream: nil, filePath: log)
            let result = try SimilarityPrecompute.run(dbPath: corpus.prod, indexPath: corpus.index, outPath: corpus.cache,
                                                      options: .init(nprobe: nprobe),
                                                      logger: Logger(label: "test") { _ in LineLogHandler(sink: sink) })
            let text = try String(contentsOfFile: log, encoding: .utf8)
            let early = text.contains("nothing to do")
            #expect(early != text.contains("sources="), "a run either stops early or plans: \(text)")
            if early { #expect(result.newSources == 0 && result.refreshedSources == 0 && result.removedSources == 0) }
            return early
        }
        #expect(try stoppedEarly())
        #expect(try corpus.lists() == lists)

        let prod = try DatabaseFile.open(corpus.prod, role: "test", access: .readWrite)
        try prod.write { try $0.execute(sql: "UPDATE video_embeddings SET created_at = '2026-02-01T00:00:00+00:00' WHERE video_id = 'v-3-3'") }
        #expect(try !stoppedEarly(), "a re-embedded row")
        #expect(try stoppedEarly(), "recorded by the run before")
        try prod.write { try $0.execute(sql: "DELETE FROM video_embeddings WHERE video_id = 'v-4-4'") }
        try corpus.buildIndex()
        #expect(try !stoppedEarly(), "a removed row")
        #expect(try corpus.lists()["v-4-4"] == nil)
        #expect(try !stoppedEarly(nprobe: 8), "another nprobe")
    }

    /// A video re-embedded after its text changed (here: moved to another topic) gets a new list, and
    /// every list that named it or now should is recomputed: the incremental run ends where a full
    /// recompute does.
    @Test func aReEmbeddedVideoIsRecomputedWithTheListsAroundIt() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<300)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        let moved = "v-3-3"
        // 15 videos per topic: a top-20 list holds its 14 topic mates first.
        #expect(try corpus.lists()[moved]!.prefix(14).allSatisfy { TopicCorpus.topic(of: $0) == 3 })
        // The embedding stage's write: a vector of topic 7, stamped now.
        let vector = try DatabaseFile.open(corpus.prod, role: "test", access: .readOnly).read {
            try Data.fetchOne($0, sql: "SELECT embedding FROM video_embeddings WHERE video_id = 'v-7-7'")!
        }
        try DatabaseFile.open(corpus.prod, role: "test", access: .readWrite).write {
            try $0.execute(sql: "UPDATE video_embeddings SET embedding = ?, created_at = ? WHERE video_id = ?",
                           arguments: [vector, EmbeddingStage.timestamp(), moved])
        }
        try corpus.buildIndex()
        let result = try corpus.precompute(.incremental)
        #expect(result.newSources == 1 && result.refreshedSources > 0)
        let lists = try corpus.lists()
        #expect(lists[moved]!.prefix(15).allSatisfy { TopicCorpus.topic(of: $0) == 7 }, "its own list follows the new vector")
        #expect(!lists.filter { TopicCorpus.topic(of: $0.key) == 3 }.values.contains { $0.contains(moved) },
                "no topic-3 list keeps it")
        _ = try corpus.precompute(.reset, out: corpus.dir.path("full.db"))
        let full = try corpus.lists(corpus.dir.path("full.db"))
        let exact = try corpus.exact()
        #expect(abs(TopicCorpus.recall(lists, against: exact) - TopicCorpus.recall(full, against: exact)) <= 0.01)
        #expect(lists.filter { $0.value.contains(moved) }.count == full.filter { $0.value.contains(moved) }.count)
    }

    @Test func fullPrecomputeIsAccurateAndOnTopic() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<1200)
        try corpus.buildIndex()
        let result = try corpus.precompute(.reset)
        #expect(result.newSources == 1200)
        let lists = try corpus.lists()
        #expect(lists.count == 1200 && lists.values.allSatisfy { $0.count == 20 })
        #expect(lists.allSatisfy { !$0.value.contains($0.key) })  // a video is never its own neighbour
        let recall = TopicCorpus.recall(lists, against: try corpus.exact())
        #expect(recall >= 0.95, "recall@20 \(recall)")
        let onTopic = lists.reduce(0) { total, list in
            total + list.value.prefix(10).filter { TopicCorpus.topic(of: $0) == TopicCorpus.topic(of: list.key) }.count
        }
        let precision = Double(onTopic) / Double(lists.count * 10)
        #expect(precision > 0.9, "precision@10 \(precision), chance \(1.0 / Double(TopicCorpus.topics))")

        // Metadata joined from prod at read time is the neighbour's row; scores are exact cosines, best first.
        let sample = try DatabaseFile.open(corpus.cache, role: "test", access: .readOnly).read { db in
            try db.execute(sql: "ATTACH DATABASE ? AS prod", arguments: [corpus.prod])
            return try Row.fetchAll(db, sql: """
                SELECT i.similar_video_id, v.title AS similar_title, v.channel_id, i.score, i.rank FROM similarity_items i
                JOIN prod.videos v ON v.video_id = i.similar_video_id AND v.instance_domain = i.similar_instance_domain
                WHERE i.source_video_id = 'v-3-3' ORDER BY i.rank
                """)
        }
        #expect(sample.count == 20)
        #expect(sample.allSatisfy { ($0["similar_title"] as String) == "Video \(($0["similar_video_id"] as String).split(separator: "-")[2])" })
        let scores = sample.map { $0["score"] as Double }
        #expect(scores == scores.sorted(by: >) && scores.allSatisfy { $0 <= 1.0001 })
    }

    @Test func anIncrementalRunMatchesAFullRecompute() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<1000)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        let before = try corpus.lists()

        try corpus.add(1000..<1100)  // a merge brings new videos
        try corpus.buildIndex()
        let incremental = try corpus.precompute(.incremental)
        #expect(incremental.newSources == 100 && incremental.refreshedSources > 0)
        let full = try corpus.precompute(.reset, out: corpus.dir.path("full.db"))
        #expect(full.newSources == 1100)

        let exact = try corpus.exact()
        let incrementalLists = try corpus.lists(), fullLists = try corpus.lists(corpus.dir.path("full.db"))
        let incrementalRecall = TopicCorpus.recall(incrementalLists, against: exact)
        let fullRecall = TopicCorpus.recall(fullLists, against: exact)
        #expect(abs(incrementalRecall - fullRecall) <= 0.01, "incremental \(incrementalRecall) vs full \(fullRecall)")

        // Old videos whose exact top-20 now holds new videos must show those new neighbours.
        var expectedNew = 0, foundNew = 0
        for (source, truth) in exact where Int(source.split(separator: "-")[2])! < 1000 {
            let newcomers = truth.filter { Int($0.split(separator: "-")[2])! >= 1000 }
            expectedNew += newcomers.count
            foundNew += Set(newcomers).intersection(incrementalLists[source] ?? []).count
        }
        #expect(expectedNew > 0)
        #expect(Double(foundNew) >= 0.9 * Double(expectedNew), "\(foundNew) of \(expectedNew) new neighbours")
        #expect(before.count == 1000)
        // A --reset is built aside and swapped in, keeping the cache it replaced as .prev.
        _ = try corpus.precompute(.reset)
        #expect(try corpus.lists(corpus.cache + ".prev") == incrementalLists)
    }

    @Test func anIncrementalRunTakesEachVectorsListFromAnIndexOfTheSameProd() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<1000)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        let before = corpus.dir.path("before.db")
        try FileCopy.copy(corpus.cache, to: before)
        try corpus.add(1000..<1100)
        try corpus.buildIndex()

        // The index filed every vector in the list the search's own GEMM assigns it to.
        let prod = try DatabaseFile.open(corpus.prod, role: "test", access: .readOnly)
        let embeddings = try EmbeddingSet(prod, dbPath: corpus.prod)
        let index = try FaissIndex.read(corpus.index)
        let inputs = try prod.read { try SimilarityInputs.current($0, prod: nil, topK: 20, nprobe: 16) }
        let filed = try #require(try SimilarityPrecompute.filedLists(index, built: corpus.index + ".json", from: inputs, embeddings: embeddings))
        let assigned = ListBlockedSearch.assign(embeddings.vectors, count: embeddings.count, dimension: embeddings.dimension,
                                                centroids: try index.coarseCentroids(), nlist: index.nlist, nprobe: 1, workers: 2)
        #expect(filed.count == 1100 && !filed.contains(-1))
        #expect(zip(filed, assigned).filter { $0 != $1 }.count <= 2, "lists disagreeing with the assignment")

        // Filed or assigned, the incremental run's lists are the same.
        let assignedRun = corpus.dir.path("assigned.db")
        try FileCopy.copy(before, to: assignedRun)
        var options = SimilarityPrecompute.Options(selection: .incremental)
        options.indexMetaPath = corpus.dir.path("no-meta.json")  // no meta: every vector assigned
        _ = try SimilarityPrecompute.run(dbPath: corpus.prod, indexPath: corpus.index, outPath: assignedRun, options: options, logger: quietLogger)
        #expect(try corpus.precompute(.incremental).newSources == 100)
        let (filedLists, assignedLists) = (try corpus.lists(), try corpus.lists(assignedRun))
        #expect(filedLists.count == 1100)
        #expect(filedLists.filter { assignedLists[$0.key] != $0.value }.count <= 2)

        // An index built from another prod (the meta's fingerprint differs), or without its meta, is not trusted.
        try corpus.add(1100..<1101)
        let grown = try prod.read { try SimilarityInputs.current($0, prod: nil, topK: 20, nprobe: 16) }
        #expect(try SimilarityPrecompute.filedLists(index, built: corpus.index + ".json", from: grown, embeddings: embeddings) == nil)
        #expect(try SimilarityPrecompute.filedLists(index, built: corpus.dir.path("no-meta.json"), from: inputs, embeddings: embeddings) == nil)
    }

    @Test func videosLeavingProdLeaveTheCache() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<600)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        // The first 100 videos (5 of every topic) leave prod: other lists of their topics point at them.
        let gone = try DatabaseFile.open(corpus.prod, role: "test", access: .readWrite).write { db -> Set<String> in
            let ids = try String.fetchSet(db, sql: "SELECT video_id FROM video_embeddings WHERE rowid <= 100")
            try db.execute(sql: "DELETE FROM video_embeddings WHERE rowid <= 100; DELETE FROM videos WHERE rowid <= 100")
            return ids
        }
        try corpus.buildIndex()
        let result = try corpus.precompute(.incremental)
        #expect(result.removedSources == 100 && result.newSources == 0 && result.refreshedSources > 0)
        let lists = try corpus.lists()
        #expect(lists.count == 500)
        #expect(gone.isDisjoint(with: lists.keys))
        #expect(!lists.values.contains { !gone.isDisjoint(with: $0) })
        #expect(lists.values.allSatisfy { $0.count == 20 })
    }

    /// Ranks come from Swift; a neighbour whose video row is missing (an embedding left behind) is
    /// dropped by the writer's join, and the batch is ranked again so every list still reads 1…n.
    @Test func aNeighbourWithoutItsVideoRowLeavesRanksContiguous() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<300)
        // A prod whose schema enforces no foreign key (ours does: switched off here to make one).
        let orphans = try DatabaseFile.open(corpus.prod, role: "test", access: .readWrite).writeWithoutTransaction { db -> Set<String> in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            let ids = try String.fetchSet(db, sql: "SELECT video_id FROM videos WHERE rowid % 20 = 0")
            try db.execute(sql: "DELETE FROM videos WHERE rowid % 20 = 0")
            return ids
        }
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        let rows = try DatabaseFile.open(corpus.cache, role: "test", access: .readOnly).read { db in
            try Row.fetchAll(db, sql: "SELECT source_video_id, similar_video_id, rank FROM similarity_items ORDER BY 1, 3")
        }
        var ranks: [String: [Int]] = [:]
        for row in rows {
            #expect(!orphans.contains(row[1]), "\(row[1] as String) has no video row")
            ranks[row[0], default: []].append(row[2])
        }
        #expect(ranks.count == 300 && rows.count > 300 * 15)
        #expect(ranks.values.allSatisfy { $0 == Array(1...$0.count) })
    }

    @Test func anIndexOfAnotherDimensionOrAnUnwritableOutputIsRefused() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<300)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        let published = try Data(contentsOf: URL(fileURLWithPath: corpus.cache))
        // An index built over 128-d vectors.
        let other = try FaissIndex.ivfpq(dimension: 128, nlist: 2, m: 8, nbits: 4)
        var rng = SplitMix64(state: 5)
        let vectors = (0..<(300 * 128)).map { _ in Float.random(in: -1...1, using: &rng) }
        try other.train(vectors)
        try other.add(vectors, ids: (0..<300).map { Int64($0) })
        try other.write(to: corpus.dir.path("other.faiss"))
        #expect(throws: SimilarityError.dimensionMismatch(index: 128, database: 384)) {
            try SimilarityPrecompute.run(dbPath: corpus.prod, indexPath: corpus.dir.path("other.faiss"), outPath: corpus.cache, logger: quietLogger)
        }
        #expect(throws: (any Error).self) {
            try SimilarityPrecompute.run(dbPath: corpus.prod, indexPath: corpus.index, outPath: "/nonexistent-dir/cache.db", logger: quietLogger)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: corpus.cache)) == published)
        #expect(try FileManager.default.contentsOfDirectory(atPath: corpus.dir.url.path).filter { $0.contains(".tmp-") }.isEmpty)
    }

    @Test func aMismatchedOrBrokenIndexLeavesTheCacheAlone() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<400)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        let published = try Data(contentsOf: URL(fileURLWithPath: corpus.cache))
        try Data("junk".utf8).write(to: URL(fileURLWithPath: corpus.index))
        #expect(throws: FaissError.self) { try corpus.precompute(.reset) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: corpus.cache)) == published)
    }
}
