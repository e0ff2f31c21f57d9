import Foundation
import GRDB
@testable import PeerTubeUpdater
import PeerTubeSimulator
import SmokeHarness
import Testing

extension Integration {
/// Day two on the simulated federation: counts changed, a title edited, a video deleted upstream.
/// `run --refresh` brings prod, the index and the similar-video lists up to date, and nothing else moves.
@Suite("Refresh day two", .serialized)
struct RefreshDayTwoTests {
    @Test("run --refresh: new counts and title in prod, only the edited text re-embedded, the deleted video gone everywhere")
    func dayTwo() async throws {
        try await WorkerFixture.with { w in
            let layout = try w.layout("day-two")
            // Day one: the whole pipeline, so the index and the similarity cache exist.
            let first = try await w.run(layout)
            #expect(first.exitCode == 0, "\(first.errorLine ?? "")")

            // Everything was just read; 12 videos of one host were read 100 days ago, so they are due.
            let prod = try DatabaseFile.open(layout.prodDB, role: "test", access: .readWrite)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let due = try await prod.write { (db: Database) throws -> [Row] in
                try db.execute(sql: "UPDATE videos SET last_checked_at = ?", arguments: [now])
                let rows = try Row.fetchAll(db, sql: """
                    SELECT v.video_id, v.instance_domain, v.views, v.title, v.popularity, e.rowid AS ann_id FROM videos v
                    JOIN video_embeddings e USING (video_id, instance_domain)
                    WHERE v.instance_domain = (SELECT min(instance_domain) FROM video_embeddings) ORDER BY v.video_id LIMIT 12
                    """)
                for row in rows {
                    try db.execute(sql: "UPDATE videos SET last_checked_at = ? WHERE video_id = ? AND instance_domain = ?",
                                   arguments: [now - 100 * 86_400_000, row["video_id"], row["instance_domain"]])
                }
                // And 5 of another host, which is down today.
                try db.execute(sql: """
                    UPDATE videos SET last_checked_at = ? WHERE rowid IN (SELECT rowid FROM videos
                        WHERE instance_domain = (SELECT max(instance_domain) FROM video_embeddings) ORDER BY video_id LIMIT 5)
                    """, arguments: [now - 100 * 86_400_000])
                return rows
            }
            try #require(due.count == 12)
            let downHost = try await prod.read { try String.fetchOne($0, sql: "SELECT max(instance_domain) FROM video_embeddings")! }
            try #require(downHost != due[0]["instance_domain"] as String)
            let (counted, edited, deleted): (String, String, String) = (due[0]["video_id"], due[1]["video_id"], due[2]["video_id"])
            let deletedID: Int64 = due[2]["ann_id"]
            let embeddingsBefore = try Self.embeddings(layout.prodDB)

            // Day two upstream.
            var corpus = w.fixture.federation.api.corpus
            let found = [corpus.editVideo(uuid: counted) { $0.views += 1_000; $0.likes += 50 },
                         corpus.editVideo(uuid: edited) { $0.name = "An entirely new title about sourdough bread" },
                         corpus.deleteVideo(uuid: deleted)]
            #expect(found == [true, true, true])
            let federation = try SimulatedFederation(api: SimAPI(corpus: corpus), logPath: w.path("day-two-federation.log"))
            let address = try await federation.start()
            let rules = w.path("refresh_rules.json")
            try MergeRuleSet.refreshJSON.write(to: URL(fileURLWithPath: rules))
            let downVideos = try await prod.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM videos WHERE instance_domain = ? ORDER BY video_id", arguments: [downHost])
            }
            let outcome = try await w.run(layout, ["--refresh", "--route", "*=\(address)", "--route", "\(downHost)=127.0.0.1:9",
                                                   "--max-retries", "0"], mergeRules: rules)
            await federation.stop()
            #expect(outcome.exitCode == 0, "\(outcome.errorLine ?? "")")
            let log = w.log(layout)
            #expect(log.contains("run: refresh_crawl"))
            #expect(log.contains("refresh: 17 of 17 due videos"), "\(log.split(separator: "\n").filter { $0.contains("refresh") })")
            #expect(log.contains("refresh: 11 re-read, 1 gone (404), 5 failed"))
            // The host that was down lost nothing: its rows are as they were, due again next run.
            let downAfter = try await DatabaseFile.open(layout.prodDB, role: "test", access: .readOnly).read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM videos WHERE instance_domain = ? ORDER BY video_id", arguments: [downHost])
            }
            #expect(downAfter.count == downVideos.count && downAfter.map { $0["last_checked_at"] as Int64 } == downVideos.map { $0["last_checked_at"] as Int64 })

            // Prod: new counts and title; the deleted video and its embedding gone.
            let after = try DatabaseFile.open(layout.prodDB, role: "test", access: .readOnly)
            let (views, title, remaining) = try await after.read { (db: Database) throws -> (Int?, String?, Int?) in
                (try Int.fetchOne(db, sql: "SELECT views FROM videos WHERE video_id = ?", arguments: [counted]),
                 try String.fetchOne(db, sql: "SELECT title FROM videos WHERE video_id = ?", arguments: [edited]),
                 try Int.fetchOne(db, sql: "SELECT (SELECT count(*) FROM videos WHERE video_id = ?1) + (SELECT count(*) FROM video_embeddings WHERE video_id = ?1)",
                                  arguments: [deleted]))
            }
            #expect(views == (due[0]["views"] as Int?).map { $0 + 1_000 })
            // Its popularity follows its new counts (the popularity stage scores the re-read rows too).
            let scored = try await after.read { try Row.fetchOne($0, sql: "SELECT views, likes, published_at, popularity FROM videos WHERE video_id = ?", arguments: [counted])! }
            let ageDays = Double(Int64(Date().timeIntervalSince1970 * 1000) - (scored["published_at"] as Int64)) / 86_400_000
            let expected = Double((scored["views"] as Int) + 2 * (scored["likes"] as Int)) / (1 + ageDays / 30)
            #expect(abs((scored["popularity"] as Double) - expected) < 0.01 * expected, "\(scored) vs \(expected)")
            #expect((scored["popularity"] as Double) > (due[0]["popularity"] as Double))
            #expect(title == "An entirely new title about sourdough bread")
            #expect(remaining == 0)

            // Embeddings: the edited video's changed (same rowid, the ANN id), every other kept byte for byte.
            let embeddingsAfter = try Self.embeddings(layout.prodDB)
            #expect(embeddingsAfter[edited] != nil && embeddingsAfter[edited]?.blob != embeddingsBefore[edited]?.blob)
            #expect(embeddingsAfter[edited]?.rowid == embeddingsBefore[edited]?.rowid)
            let unchanged = embeddingsBefore.filter { $0.key != edited && $0.key != deleted }
            #expect(unchanged.allSatisfy { embeddingsAfter[$0.key] == $0.value }, "only the edited text is embedded again")

            // The index and every similar-video list: the deleted video is in none of them.
            #expect(!(try FaissIndex.read(layout.indexPath).storedIDs.contains(deletedID)))
            let cache = try SimilarityQuality.cachedLists(cachePath: layout.similarityDB)
            #expect(cache.keys.allSatisfy { $0.videoID != deleted })
            #expect(cache.values.allSatisfy { list in !list.contains { $0.videoID == deleted } })
            #expect(cache.keys.contains { $0.videoID == edited })
        }
    }

    /// Every prod embedding by video id: rowid and blob.
    static func embeddings(_ path: String) throws -> [String: Embedding] {
        try DatabaseFile.open(path, role: "test", access: .readOnly).read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT video_id, rowid, embedding FROM video_embeddings").map {
                ($0["video_id"], Embedding(rowid: $0["rowid"], blob: $0["embedding"]))
            })
        }
    }

    struct Embedding: Equatable {
        var rowid: Int64
        var blob: Data
    }
}
}
