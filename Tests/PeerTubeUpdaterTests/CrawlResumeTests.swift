import Foundation
import GRDB
import Testing
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

extension Integration {
/// A crawl killed mid-way (SIGKILL of the real CLI) and resumed with `--resume` ends with the same
/// rows as one that was never interrupted.
@Suite struct CrawlResumeTests {
    @Test func killedVideoCrawlResumesToTheSameRows() async throws {
        let dir = try TempDir()
        let sim = try await RunningFederation.start()
        defer { Task { await sim.stop() } }
        let reference = dir.path("reference.db")
        try await sim.crawlAll(into: reference)

        let staging = dir.path("staging.db")
        let client = PoliteHTTPClient(options: sim.clientOptions())
        _ = try await InstancesCrawl.run(stagingPath: staging, whitelistURL: sim.whitelistURL, client: client,
                                         options: CrawlOptions(), logger: quietLogger)
        _ = try await ChannelsCrawl.run(stagingPath: staging, client: client, options: CrawlOptions(), logger: quietLogger)
        client.shutdown()

        let route = ["--route", "*=\(sim.address)", "--http-only", "--db", staging, "--timeout-ms", "\(RunningFederation.patientTimeoutMs)"]
        let total = testCorpus.allVideos.count
        // Killed by the fault plan once a third of the channels' pages are committed: deterministic,
        // whatever the load.
        let pages = testCorpus.allChannels.count / 3
        let first = try await runUpdaterAsync(["crawl", "videos"] + route, environment: [FaultPlan.killEnvironmentVariable: "\(FaultPoint.crawlPage.name):\(pages)"])
        #expect(first.status != 0)
        let atKill = try count(staging, "SELECT count(*) FROM videos")
        #expect(atKill > 0 && atKill < total, "killed with \(atKill) of \(total) videos stored")
        #expect(try count(staging, "SELECT count(*) FROM video_crawl_progress WHERE status = 'done'") < testCorpus.allChannels.count)

        let resumed = try await runUpdaterAsync(["crawl", "videos", "--resume"] + route)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let counted = try await runUpdaterAsync(["crawl", "channels-videos-count", "--resume"] + route)
        #expect(counted.status == 0)
        #expect(try tableContents(staging, table: "videos") == tableContents(reference, table: "videos"))
        #expect(try tableContents(staging, table: "channels") == tableContents(reference, table: "channels"))
        #expect(try count(staging, "SELECT count(*) FROM video_crawl_progress WHERE status != 'done'") == 0)
        // Resuming did not start over: pages stored before the kill were not fetched again
        // (only the page in flight at the kill may be).
        let listRequests = sim.federation.requests.filter { $0.path.contains("/videos?start=") }
        let referenceLists = testCorpus.allChannels.reduce(0) { $0 + max(1, ($1.videos.count + 49) / 50) }
        #expect(listRequests.count <= 2 * referenceLists + testCorpus.allChannels.count)
    }
}
}
