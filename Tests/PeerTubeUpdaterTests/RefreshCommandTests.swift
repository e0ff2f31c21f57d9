import Foundation
import GRDB
import Testing
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

extension Integration {
/// `peertube-updater crawl refresh`: the refresh stage alone, on a staging DB, against a prod it only reads.
@Suite struct RefreshCommandTests {
    @Test func theCommandReadsTheMostOverdueWithinTheBudgetAndRecordsGoneVideos() async throws {
        let dir = try TempDir()
        let day1 = try await RunningFederation.start()
        let prod = dir.path("prod.db")
        try await day1.crawlAll(into: prod)
        await day1.stop()
        // Five videos of one host are due; the most overdue one is deleted upstream.
        let due = try await DatabaseFile.open(prod, role: "test", access: .readWrite).write { (db: Database) throws -> [String] in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try db.execute(sql: "UPDATE videos SET last_checked_at = ?", arguments: [now])
            let ids = try String.fetchAll(db, sql: """
                SELECT video_id FROM videos WHERE instance_domain = (SELECT min(instance_domain) FROM videos) ORDER BY video_id LIMIT 5
                """)
            for (i, id) in ids.enumerated() {
                try db.execute(sql: "UPDATE videos SET last_checked_at = ? WHERE video_id = ?", arguments: [now - Int64(200 - i) * 86_400_000, id])
            }
            return ids
        }
        var corpus = testCorpus
        let deleted = corpus.deleteVideo(uuid: due[0])
        try #require(deleted)
        let day2 = try await RunningFederation.start(corpus: corpus)
        defer { Task { await day2.stop() } }
        let staging = dir.path("staging.db")
        let client = PoliteHTTPClient(options: day2.clientOptions())
        _ = try await InstancesCrawl.run(stagingPath: staging, whitelistURL: day2.whitelistURL, client: client, options: CrawlOptions(), logger: quietLogger)
        client.shutdown()
        let prodBefore = try fingerprints(prod)

        let result = try await runUpdaterAsync(["crawl", "refresh", "--db", staging, "--prod-db", prod, "--budget", "3",
                                                "--route", "*=\(day2.address)", "--http-only", "--timeout-ms", "\(RunningFederation.patientTimeoutMs)"])
        #expect(result.status == 0, "\(result.stderr)")
        let (read, gone) = try await DatabaseFile.open(staging, role: "test", access: .readOnly).read { db in
            (try String.fetchSet(db, sql: "SELECT video_id FROM videos"),
             try String.fetchSet(db, sql: "SELECT video_id FROM gone_videos WHERE reason = 'not_found'"))
        }
        #expect(gone == [due[0]], "the deleted video, the most overdue")
        #expect(read == Set(due[1...2]), "the next two most overdue fill the budget of 3")
        #expect(try fingerprints(prod) == prodBefore, "prod is only read")
        let requests = day2.federation.requests.filter { $0.path.hasPrefix("/api/v1/videos/") }
        #expect(requests.count == 3)
    }

    @Test("a known video missing from its channel's complete listing is re-read first, outside its cadence, and removed on 404")
    func missingFromTheListing() async throws {
        let dir = try TempDir()
        let day1 = try await RunningFederation.start()
        let prod = dir.path("prod.db")
        try await day1.crawlAll(into: prod)
        await day1.stop()
        // Everything was just read: nothing is due by its age tier.
        let deletedID = try await DatabaseFile.open(prod, role: "test", access: .readWrite).write { (db: Database) throws -> String in
            try db.execute(sql: "UPDATE videos SET last_checked_at = ?", arguments: [Int64(Date().timeIntervalSince1970 * 1000)])
            return try String.fetchOne(db, sql: "SELECT video_id FROM videos ORDER BY instance_domain, video_id LIMIT 1")!
        }
        var corpus = testCorpus
        let deleted = corpus.deleteVideo(uuid: deletedID)
        try #require(deleted)
        let day2 = try await RunningFederation.start(corpus: corpus)
        defer { Task { await day2.stop() } }
        let staging = dir.path("staging.db")
        let client = PoliteHTTPClient(options: day2.clientOptions())
        defer { client.shutdown() }
        var crawl = CrawlOptions()
        crawl.existingDB = prod
        crawl.refreshRun = true
        _ = try await InstancesCrawl.run(stagingPath: staging, whitelistURL: day2.whitelistURL, client: client, options: crawl, logger: quietLogger)
        _ = try await ChannelsCrawl.run(stagingPath: staging, client: client, options: crawl, logger: quietLogger)
        let videos = try await VideosCrawl.run(stagingPath: staging, client: client, options: crawl, logger: quietLogger)
        #expect(videos.missingFromListings == 1)
        let missing = try await DatabaseFile.open(staging, role: "test", access: .readOnly).read { (db: Database) throws -> [String] in
            try String.fetchAll(db, sql: "SELECT video_id FROM listing_missing")
        }
        #expect(missing == [deletedID], "only the deleted video: every other known one is listed")

        let refresh = try await RefreshCrawl.run(stagingPath: staging, prodPath: prod, client: client, crawl: crawl,
                                                 plan: .init(perHostBudget: 5), logger: quietLogger)
        #expect(refresh.selected == 1 && refresh.gone == 1, "re-read although its tier is not due, and gone on 404")
        let gone = try await DatabaseFile.open(staging, role: "test", access: .readOnly).read { (db: Database) throws -> [String] in
            try String.fetchAll(db, sql: "SELECT video_id FROM gone_videos WHERE reason = 'not_found'")
        }
        #expect(gone == [deletedID])
    }
}
}
