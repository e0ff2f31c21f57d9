import Foundation
import GRDB
import Testing
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

/// Which error bodies are PeerTube's own: RFC 7807 problems and the older `{"error": …}` JSON.
@Suite struct PeerTubeErrorShapeTests {
    @Test func problemJSONAndTheOlderErrorObjectArePeerTubes() {
        let problem = Data(#"{"type":"about:blank","title":"Not Found","status":404,"detail":"Video channel not found","instance":"/api/v1/video-channels/x/videos"}"#.utf8)
        #expect(FetchError.hasPeerTubeErrorShape(problem, contentType: "application/problem+json; charset=utf-8", status: 404))
        #expect(FetchError.hasPeerTubeErrorShape(Data(#"{"error":"Video channel not found"}"#.utf8), contentType: "application/json", status: 404))
        // The problem's status must be the answer's.
        #expect(!FetchError.hasPeerTubeErrorShape(problem, contentType: "application/problem+json", status: 410))
    }

    @Test func plainTextHTMLAndOtherBodiesAreNot() {
        #expect(!FetchError.hasPeerTubeErrorShape(Data("404 page not found\n".utf8), contentType: "text/plain; charset=utf-8", status: 404))
        #expect(!FetchError.hasPeerTubeErrorShape(Data("<html><body>404 Not Found</body></html>".utf8), contentType: "text/html", status: 404))
        #expect(!FetchError.hasPeerTubeErrorShape(Data(), contentType: "text/plain", status: 404))
        #expect(!FetchError.hasPeerTubeErrorShape(Data(#"{"error":"x"}"#.utf8), contentType: nil, status: 404), "JSON sent as no type")
        #expect(!FetchError.hasPeerTubeErrorShape(Data(#"["not","an","object"]"#.utf8), contentType: "application/json", status: 404))
        #expect(!FetchError.hasPeerTubeErrorShape(Data(#"{"message":"gone"}"#.utf8), contentType: "application/json", status: 404))
    }
}

extension Integration {
/// One bad answer never deletes data: in a refresh run a channel (or a video) is gone only on
/// PeerTube's own 404 from a host that answered as PeerTube in the same run, and a channel only when
/// its host's complete channel listing leaves it out too. Anything else is the host failing for the run.
@Suite struct GoneUpstreamTests {
    enum Answer: String, CaseIterable, Sendable {
        case plainText404, html404, foreignJSON404, peerTube404WhileListed, peerTubeDeletion
    }

    @Test("a refresh run deletes on PeerTube's own 404 only", arguments: Answer.allCases)
    func goneOnlyOnPeerTubesAnswer(_ answer: Answer) async throws {
        let dir = try TempDir()
        let prod = dir.path("prod.db")
        let day1 = try await RunningFederation.start(corpus: smallCorpus)
        try await day1.crawlAll(into: prod)
        await day1.stop()
        let host = try #require(try fetchStrings(prod, "SELECT min(instance_domain) FROM videos").first)
        let channel = try #require(try fetchRow(prod, """
            SELECT channel_id, channel_name FROM channels WHERE instance_domain = ?
            AND channel_id IN (SELECT channel_id FROM videos WHERE instance_domain = ?) ORDER BY channel_id LIMIT 1
            """, [host, host]))
        let channelVideos = try fetchStrings(prod, "SELECT video_id FROM videos WHERE instance_domain = ? AND channel_id = ?",
                                             [host, channel["channel_id"] as String])
        // Every video of the host is due, so the refresh asks for each one's details.
        let hostVideos = try await DatabaseFile.open(prod, role: "test", access: .readWrite).write { (db: Database) throws -> Int in
            try db.execute(sql: "UPDATE videos SET last_checked_at = 0 WHERE instance_domain = ?", arguments: [host])
            return db.changesCount
        }

        var corpus = smallCorpus
        var faults = SimFaults()
        switch answer {
        case .plainText404: faults.hosts[host] = .init(foreign404: .text)
        case .html404: faults.hosts[host] = .init(foreign404: .html)
        case .foreignJSON404: faults.hosts[host] = .init(foreign404: .json)
        case .peerTube404WhileListed: faults.hosts[host] = .init(channelVideosNotFound: true)
        case .peerTubeDeletion:
            let deleted = corpus.deleteChannel(named: channel["channel_name"], on: host)
            try #require(deleted)
        }
        let day2 = try await RunningFederation.start(corpus: corpus, faults: faults)
        defer { Task { await day2.stop() } }
        // Staging as the worker starts it: prod's hosts and channels seeded.
        let staging = dir.path("staging.db")
        let stagingDB = try StagingDatabase.recreate(at: staging)
        try StagingDatabase.seed(stagingDB, fromProdAt: prod)
        try await stagingDB.write { try $0.execute(sql: Schema.goneVideosTable) }  // empty unless something is gone
        let client = PoliteHTTPClient(options: day2.clientOptions(maxRetries: 0))
        defer { client.shutdown() }
        var crawl = CrawlOptions()
        crawl.existingDB = prod
        crawl.refreshRun = true
        try await day2.crawlAll(into: staging, options: crawl, using: client)
        let channelGone = try fetchStrings(staging, "SELECT video_id FROM gone_videos WHERE instance_domain = ? AND reason = 'channel_not_found'", [host])
        _ = try await RefreshCrawl.run(stagingPath: staging, prodPath: prod, client: client, crawl: crawl,
                                       plan: .init(perHostBudget: 10_000), logger: quietLogger)

        let goneOnHost = try count(staging, "SELECT count(*) FROM gone_videos WHERE instance_domain = ?", [host])
        switch answer {
        case .peerTubeDeletion:
            let gone = try fetchStrings(staging, "SELECT video_id FROM gone_videos WHERE instance_domain = ?", [host])
            #expect(Set(channelGone) == Set(channelVideos),
                    "its list answered PeerTube's 404 and its host's listing left it out: its \(channelVideos.count) videos gone")
            #expect(Set(gone) == Set(channelVideos), "after the refresh (their details answer 404 too), those and no other")
        default:
            #expect(channelGone.isEmpty && goneOnHost == 0, "\(answer): nothing of \(host) is gone (\(hostVideos) due videos)")
            let error = try fetchStrings(staging, "SELECT last_error FROM channels WHERE instance_domain = ? AND last_error IS NOT NULL", [host])
            #expect(!error.isEmpty && error.allSatisfy { $0.hasPrefix("http_404") }, "the failure is recorded on the channel rows: \(error)")
        }
    }
}
}
