import Foundation
import GRDB
import Logging
@testable import PeerTubeUpdater
import SmokeHarness
import Testing

/// Similarity quality on the simulator corpus: real model embeddings of the corpus's videos (the
/// smoke suite's embedded default source DB) and the corpus's hidden topic labels.
@Suite("Similarity quality on the simulator corpus")
struct SimilarityCorpusTests {
    /// The embedded default source DB (built once, shared with the smoke suite).
    static func source() async throws -> (path: String, topics: [String: Int]) {
        let corpus = try SmokeCorpus(path: testResource("smoke-corpus.json"))
        let path = try await EmbeddedDefaultSource.path(
            for: corpus, cacheDirectory: repositoryRoot.appendingPathComponent(EmbeddedDefaultSource.cacheDirectory).path,
            modelDirectory: InstalledModel.directory, logger: quietLogger)
        return (path, Dictionary(uniqueKeysWithValues: corpus.corpus.allVideos.map { ($0.uuid, $0.topic) }))
    }

    @Test("full and incremental precompute: recall@20 vs exact, refreshed old lists, on-topic neighbours")
    func quality() async throws {
        let (source, topics) = try await Self.source()
        try Self.measure(source: source, topics: topics)
    }

    /// Synchronous on purpose: GRDB's async overloads would otherwise be picked in an async context.
    static func measure(source: String, topics: [String: Int]) throws {
        let temp = try TempDir()
        let final = temp.path("final.db"), old = temp.path("old.db")
        try FileCopy.copy(source, to: final)
        try FileCopy.copy(source, to: old)
        let total = try count(final, "SELECT count(*) FROM video_embeddings")
        let newCount = total / 10
        // The old prod lacks the newest tenth of the embeddings; the final one has them (same rowids).
        try DatabaseFile.open(old, role: "test", access: .readWrite).write { db in
            try db.execute(sql: "DELETE FROM video_embeddings WHERE rowid > (SELECT max(rowid) FROM video_embeddings) - ?", arguments: [newCount])
        }
        let nlist = 16
        func build(_ db: String, _ name: String) throws -> String {
            let index = temp.path("\(name).faiss")
            _ = try ANNBuild.run(dbPath: db, indexPath: index, metaPath: index + ".json", options: .init(nlist: nlist), logger: quietLogger)
            return index
        }

        // Full run on the final DB.
        let fullIndex = try build(final, "full")
        _ = try SimilarityPrecompute.run(dbPath: final, indexPath: fullIndex, outPath: temp.path("full.db"), options: .init(selection: .reset), logger: quietLogger)
        let exact = try SimilarityQuality.exactLists(prodPath: final)
        let full = try SimilarityQuality.cachedLists(cachePath: temp.path("full.db"))
        let fullRecall = SimilarityQuality.recall(full, against: exact)
        #expect(fullRecall >= 0.95, "full recall@20 \(fullRecall)")

        // The index reads back and agrees with its meta and the DB.
        let index = try FaissIndex.read(fullIndex)
        let meta = try ANNMeta.read(fullIndex + ".json")
        #expect(index.count == total && meta.total == total)
        let rowids = Set(try DatabaseFile.open(final, role: "test", access: .readOnly).read { try Int64.fetchAll($0, sql: "SELECT rowid FROM video_embeddings") })
        #expect(Set(index.storedIDs) == rowids)

        // Incremental: a cache of the old prod, then the new videos arrive.
        _ = try SimilarityPrecompute.run(dbPath: old, indexPath: try build(old, "old"), outPath: temp.path("incremental.db"), logger: quietLogger)
        let incrementalIndex = try build(final, "incremental")
        let run = try SimilarityPrecompute.run(dbPath: final, indexPath: incrementalIndex, outPath: temp.path("incremental.db"), logger: quietLogger)
        #expect(run.newSources == newCount)
        let incremental = try SimilarityQuality.cachedLists(cachePath: temp.path("incremental.db"))
        let incrementalRecall = SimilarityQuality.recall(incremental, against: exact)
        #expect(abs(incrementalRecall - fullRecall) <= 0.01, "incremental \(incrementalRecall) vs full \(fullRecall)")

        // Old videos whose exact top-20 now holds new videos: those new neighbours are in their lists.
        let newKeys = Set(try DatabaseFile.open(final, role: "test", access: .readOnly).read { db in
            try Row.fetchAll(db, sql: "SELECT video_id, instance_domain FROM video_embeddings ORDER BY rowid DESC LIMIT ?", arguments: [newCount])
                .map { SimilarityQuality.VideoKey(videoID: $0[0], host: $0[1]) }
        })
        var wanted = 0, found = 0
        for (source, neighbours) in exact where !newKeys.contains(source) {
            let fresh = neighbours.filter(newKeys.contains)
            wanted += fresh.count
            found += Set(fresh).intersection(incremental[source] ?? []).count
        }
        let coverage = wanted == 0 ? 1 : Double(found) / Double(wanted)
        #expect(wanted > 0)
        #expect(coverage >= 0.97, "\(found) of \(wanted) new neighbours in refreshed old lists")

        // Neighbours share the source's topic far more often than chance (1 in 12).
        var perTopic: [Int: (hits: Int, slots: Int)] = [:]
        for (source, neighbours) in full {
            guard let topic = topics[source.videoID] else { continue }
            let top = neighbours.prefix(10)
            let hits = top.filter { topics[$0.videoID] == topic }.count
            perTopic[topic, default: (0, 0)].hits += hits
            perTopic[topic, default: (0, 0)].slots += top.count
        }
        let topicCount = Set(topics.values).count
        let chance = 1.0 / Double(topicCount)
        let precision = perTopic.mapValues { Double($0.hits) / Double(max($0.slots, 1)) }
        let overall = Double(perTopic.values.reduce(0) { $0 + $1.hits }) / Double(perTopic.values.reduce(0) { $0 + $1.slots })
        let line = precision.sorted { $0.key < $1.key }.map { String(format: "%d:%.2f", $0.key, $0.value) }.joined(separator: " ")
        print("similarity on the corpus: recall@20 full \(String(format: "%.3f", fullRecall)), incremental \(String(format: "%.3f", incrementalRecall)); new neighbours in refreshed lists \(found)/\(wanted); precision@10 overall \(String(format: "%.2f", overall)) (chance \(String(format: "%.2f", chance))), per topic \(line)")
        #expect(overall >= 4 * chance, "precision@10 \(overall)")
        for (topic, value) in precision { #expect(value >= 2 * chance, "topic \(topic): precision@10 \(value)") }
    }
}
