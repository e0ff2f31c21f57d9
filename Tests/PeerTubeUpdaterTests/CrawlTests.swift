import Foundation
import GRDB
import Testing
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

extension Integration {
/// The four crawl stages against the simulated federation: staging ends holding exactly the
/// simulator's truth.
@Suite struct CrawlTests {
    @Test func fullCrawlStoresExactlyTheFederationsLocalContent() async throws {
        let dir = try TempDir()
        let sim = try await RunningFederation.start()
        defer { Task { await sim.stop() } }
        let staging = dir.path("staging.db")
        try await sim.crawlAll(into: staging, options: smallPages())
        let corpus = sim.corpus

        #expect(try count(staging, "SELECT count(*) FROM instances") == corpus.instances.count)
        for instance in corpus.instances {
            // Remote channels the list mixes in are filtered out: exactly the host's own channels.
            #expect(try count(staging, "SELECT count(*) FROM channels WHERE instance_domain = ?", [instance.host]) == instance.channels.count)
            #expect(try count(staging, "SELECT count(*) FROM videos WHERE instance_domain = ?", [instance.host])
                == instance.channels.flatMap(\.videos).count)
        }
        // NSFW videos are crawled too, every channel has its count, and every new video its details.
        #expect(try count(staging, "SELECT count(*) FROM videos WHERE nsfw = 1") == corpus.allVideos.filter(\.nsfw).count)
        #expect(try count(staging, "SELECT count(*) FROM channels WHERE videos_count IS NULL") == 0)
        #expect(try count(staging, "SELECT count(*) FROM videos WHERE tags_json IS NULL OR last_error IS NOT NULL") == 0)
        #expect(try count(staging, "SELECT count(*) FROM channel_crawl_progress WHERE status != 'done'") == 0)
        #expect(try count(staging, "SELECT count(*) FROM video_crawl_progress WHERE status != 'done'") == 0)

        // Sampled rows hold what the API says, column by column.
        for instance in corpus.instances {
            for channel in instance.channels.prefix(3) {
                let channelRow = try #require(try fetchRow(staging, "SELECT * FROM channels WHERE instance_domain = ? AND channel_name = ?", [instance.host, channel.name]))
                #expect(channelRow["channel_id"] == String(channel.id))
                #expect(channelRow["display_name"] == channel.displayName)
                #expect(channelRow["videos_count"] == channel.videos.count)
                #expect(channelRow["followers_count"] == channel.followersCount)
                #expect((channelRow["avatar_url"] as String?)?.hasPrefix("https://\(instance.host)/lazy-static/avatars/") == true)
                for video in channel.videos.prefix(4) {
                    let row = try #require(try fetchRow(staging, "SELECT * FROM videos WHERE video_id = ? AND instance_domain = ?", [video.uuid, instance.host]))
                    #expect(row["video_uuid"] == video.uuid)
                    #expect(row["video_numeric_id"] == video.id)
                    #expect(row["channel_id"] == String(channel.id))
                    #expect(row["channel_name"] == channel.displayName)
                    #expect(row["channel_url"] == "https://\(instance.host)/video-channels/\(channel.name)")
                    #expect(row["account_name"] == channel.account.displayName)
                    #expect(row["account_url"] == "https://\(instance.host)/accounts/\(channel.account.name)")
                    #expect(row["title"] == video.name)
                    #expect(row["description"] == video.description)  // full text, not the list's 250 characters
                    #expect(row["tags_json"] == String(decoding: try JSONEncoder().encode(video.tags), as: UTF8.self))
                    #expect(row["category"] == video.category?.label)
                    #expect(row["published_at"] == video.publishedAt)
                    #expect(row["video_url"] == "https://\(instance.host)/videos/watch/\(video.uuid)")
                    #expect(row["duration"] == video.duration)
                    #expect(row["thumbnail_url"] == "https://\(instance.host)/lazy-static/thumbnails/\(video.uuid).jpg")
                    #expect(row["preview_path"] == "https://\(instance.host)/lazy-static/previews/\(video.uuid).jpg")
                    #expect(row["embed_path"] == "/videos/embed/\(video.uuid)")
                    #expect(row["views"] == video.views && row["likes"] == video.likes && row["dislikes"] == video.dislikes)
                    #expect(row["comments_count"] == (instance.isOldVersion ? nil : video.comments))
                    #expect(row["nsfw"] == (video.nsfw ? 1 : 0))
                }
            }
        }
        // Every request named the tool and a contact URL.
        #expect(sim.federation.requests.allSatisfy { $0.userAgent.hasPrefix("peertube-updater/") && $0.userAgent.contains("+https://") })
        // robots.txt was asked once per host, not per request.
        #expect(sim.federation.requests.filter { $0.path == "/robots.txt" }.count == corpus.instances.count)
    }

    /// Yesterday's crawl becomes prod; today's new-only crawl finds exactly what was added since.
    @Test func newOnlyCrawlFindsExactlyTodaysChannelsAndVideos() async throws {
        let dir = try TempDir()
        let prod = try await crawlYesterday(into: dir)
        let corpus = testCorpus
        #expect(try count(prod, "SELECT count(*) FROM videos") == corpus.allVideos.filter { !$0.isNew }.count)

        let sim = try await RunningFederation.start()
        defer { Task { await sim.stop() } }
        let staging = try seededStaging(in: dir, from: prod)
        try await sim.crawlAll(into: staging, options: smallPages { $0.existingDB = prod })
        let newVideos = Set(corpus.allVideos.filter(\.isNew).map(\.uuid))
        let stored = Set(try fetchStrings(staging, "SELECT video_id FROM videos"))
        #expect(stored == newVideos)
        let newChannels = corpus.allChannels.filter(\.isNew)
        #expect(try count(staging, "SELECT count(*) FROM channels") == corpus.allChannels.count)  // seeded + new
        for channel in newChannels {
            // Found in this run and crawled in this run: counted, with its videos.
            #expect(try count(staging, "SELECT videos_count FROM channels WHERE channel_name = ? AND instance_domain = ?",
                              [channel.name, channel.host]) == channel.videos.count)
        }
        // No video details were fetched for known videos.
        let detailRequests = sim.federation.requests.filter { $0.path.hasPrefix("/api/v1/videos/") }.count
        #expect(detailRequests == newVideos.count)
    }

    @Test func capsAreHonouredExactly() async throws {
        let dir = try TempDir()
        let sim = try await RunningFederation.start()
        defer { Task { await sim.stop() } }
        let staging = dir.path("staging.db")
        try await sim.crawlAll(into: staging, options: smallPages {
            $0.maxInstances = 2
            $0.maxChannels = 7
            $0.maxVideosPages = 1
        })
        // The whitelist keeps its first 2 hosts; later stages take the first 2 by host name of those.
        let kept = Array(testCorpus.instances.map(\.host).prefix(2))
        #expect(try count(staging, "SELECT count(*) FROM instances") == 2)
        #expect(try count(staging, "SELECT count(*) FROM instances WHERE host IN (?, ?)", StatementArguments(kept)) == 2)
        #expect(try count(staging, "SELECT count(*) FROM channels") == 7)
        // One page of 10 per channel at most.
        #expect(try count(staging, "SELECT max(n) FROM (SELECT count(*) AS n FROM videos GROUP BY channel_id, instance_domain)") == 10)
        let listRequests = sim.federation.requests.filter { $0.path.contains("/videos?") && $0.path.contains("count=10") }
        #expect(listRequests.count == 7)
    }

    /// With -publishedAt order the new videos come first; after S pages of known videos a channel stops.
    @Test func stopAfterFullPagesStopsAtTheFirstKnownPages() async throws {
        let dir = try TempDir()
        let prod = try await crawlYesterday(into: dir)
        let sim = try await RunningFederation.start()
        defer { Task { await sim.stop() } }
        let staging = try seededStaging(in: dir, from: prod)
        try await sim.crawlAll(into: staging, options: smallPages {
            $0.existingDB = prod
            $0.stopAfterFullPages = 1
        })
        for channel in testCorpus.allChannels where !channel.isNew {
            let fresh = channel.videos.filter(\.isNew).count
            // Pages holding new videos, then one page of known ones (or the channel's end).
            let expected = min((channel.videos.count + 9) / 10, (fresh + 9) / 10 + 1)
            let requested = sim.federation.requests.filter { $0.host == channel.host && $0.path.hasPrefix("/api/v1/video-channels/\(channel.name)/videos?") }.count
            #expect(requested == expected, "channel \(channel.name): \(fresh) new of \(channel.videos.count)")
        }
        #expect(try count(staging, "SELECT count(*) FROM videos") == testCorpus.allVideos.filter(\.isNew).count)
    }

    /// Yesterday's view crawled into `prod.db`: what the embedded-default prod holds.
    private func crawlYesterday(into dir: TempDir) async throws -> String {
        let prod = dir.path("prod.db")
        let yesterday = try await RunningFederation.start(viewTime: testCorpus.snapshotAt)
        try await yesterday.crawlAll(into: prod, options: smallPages())
        await yesterday.stop()
        return prod
    }

    /// A staging DB seeded from `prod`, as the worker's first stage makes it.
    private func seededStaging(in dir: TempDir, from prod: String) throws -> String {
        let staging = dir.path("staging.db")
        _ = try StagingDatabase.seed(try StagingDatabase.recreate(at: staging), fromProdAt: prod)
        return staging
    }
}
}
