import Foundation
import Testing
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

/// The simulator answers with PeerTube's shapes and rules (paging caps, sorting, errors, NSFW filtering, remote channels).
@Suite struct SimulatorAPITests {
    let api = SimAPI(corpus: testCorpus)

    func json(_ response: SimResponse) throws -> JSONValue { try JSONValue.parse(response.body) }

    @Test func corpusIsDeterministicAndLabelled() {
        let again = SimCorpus(hosts: SimCorpus.defaultHosts)
        #expect(again.allVideos.map(\.uuid) == testCorpus.allVideos.map(\.uuid))
        #expect(again.allVideos.map(\.topic) == testCorpus.allVideos.map(\.topic))
        #expect(SimCorpus(hosts: SimCorpus.defaultHosts, seed: 7).allVideos.map(\.uuid) != testCorpus.allVideos.map(\.uuid))
        let videos = testCorpus.allVideos
        #expect(videos.count > 500)
        #expect(Set(videos.map(\.topic)).count >= 10)
        #expect(Set(videos.map(\.language)) == ["en", "fr", "de", "es", "ja"])
        #expect(videos.contains { $0.nsfw } && videos.contains { $0.description.count > 250 })
        #expect(videos.contains { $0.isNew } && testCorpus.allChannels.contains { $0.isNew })
        #expect(videos.allSatisfy { $0.isNew == ($0.publishedAt > testCorpus.snapshotAt) })
    }

    @Test func pagingIsValidatedLikePeerTube() throws {
        let tooMany = api.respond(host: "framatube.org", path: "/api/v1/video-channels", query: ["count": "500"])
        #expect(tooMany.status == 400)
        #expect(tooMany.headers["Content-Type"]?.hasPrefix("application/problem+json") == true)
        #expect(try json(tooMany)["invalid-params"]?["count"]?["msg"]?.string == "Should have a number count (max: 100)")
        #expect(api.respond(host: "framatube.org", path: "/api/v1/video-channels", query: ["start": "-1"]).status == 400)
        #expect(api.respond(host: "framatube.org", path: "/api/v1/video-channels", query: ["sort": "views"]).status == 400)
        let defaultPage = try json(api.respond(host: "framatube.org", path: "/api/v1/video-channels", query: [:]))
        #expect(defaultPage["data"]?.array?.count == 15)
        let zero = try json(api.respond(host: "framatube.org", path: "/api/v1/video-channels", query: ["count": "0"]))
        #expect(zero["data"]?.array?.isEmpty == true && (zero["total"]?.int ?? 0) > 15)
        let unknown = api.respond(host: "framatube.org", path: "/api/v1/no-such-route", query: [:])
        #expect(unknown.status == 400 && unknown.body.isEmpty)
    }

    @Test func channelListsMixInFollowedServersChannels() throws {
        let page = try json(api.respond(host: "framatube.org", path: "/api/v1/video-channels", query: ["count": "100"]))
        let items = page["data"]?.array ?? []
        let hosts = Set(items.compactMap { $0["host"]?.string })
        #expect(hosts.count == 3)  // its own and the two servers it follows
        #expect(page["total"]?.int == Int64(items.count))
        #expect(items.allSatisfy { $0["videosCount"] == nil })
        #expect(items.filter { $0["isLocal"]?.bool == true }.count == testCorpus.instance("framatube.org")!.channels.count)
    }

    @Test func videoListsHideNSFWUnlessAskedAndTruncateDescriptions() throws {
        let channel = testCorpus.instance("tilvids.com")!.channels.first { $0.videos.contains(where: \.nsfw) }!
        let path = "/api/v1/video-channels/\(channel.name)/videos"
        let hidden = try json(api.respond(host: "tilvids.com", path: path, query: ["count": "100"]))
        let both = try json(api.respond(host: "tilvids.com", path: path, query: ["count": "100", "nsfw": "both"]))
        let nsfwCount = channel.videos.filter(\.nsfw).count
        #expect(both["total"]?.int == Int64(channel.videos.count))
        #expect(hidden["total"]?.int == Int64(channel.videos.count - nsfwCount))
        let items = both["data"]?.array ?? []
        #expect(items.allSatisfy { ($0["description"]?.string?.count ?? 0) <= 250 && $0["tags"] == nil })
        let published = items.compactMap { $0["publishedAt"]?.string }
        #expect(published == published.sorted(by: >))  // default -publishedAt
        let skip = try json(api.respond(host: "tilvids.com", path: path, query: ["skipCount": "true"]))
        #expect(skip["total"] == nil)
        let missing = api.respond(host: "tilvids.com", path: "/api/v1/video-channels/nobody/videos", query: [:])
        let detail = try json(missing)["detail"]?.string
        #expect(missing.status == 404 && detail == "Video channel not found")
    }

    @Test func detailsCarryFullDescriptionAndTags() throws {
        let video = testCorpus.instance("peertube.tv")!.channels[0].videos.first { $0.description.count > 250 }
            ?? testCorpus.instance("peertube.tv")!.channels[0].videos[0]
        for id in [video.uuid, video.shortUUID, String(video.id)] {
            let details = try json(api.respond(host: "peertube.tv", path: "/api/v1/videos/\(id)", query: [:]))
            #expect(details["description"]?.string == video.description)
            #expect(details["tags"]?.array?.compactMap(\.string) == video.tags)
        }
        #expect(api.respond(host: "peertube.tv", path: "/api/v1/videos/not-an-id!", query: [:]).status == 400)
        #expect(api.respond(host: "peertube.tv", path: "/api/v1/videos/00000000-0000-4000-a000-000000000000", query: [:]).status == 404)
    }

    @Test func yesterdaysViewHoldsNoNewVideos() throws {
        let yesterday = SimAPI(corpus: testCorpus, viewTime: testCorpus.snapshotAt)
        let channel = testCorpus.allChannels.first { !$0.isNew && $0.videos.contains(where: \.isNew) }!
        let page = try json(yesterday.respond(host: channel.host, path: "/api/v1/video-channels/\(channel.name)/videos",
                                              query: ["count": "100", "nsfw": "both"]))
        #expect(page["total"]?.int == Int64(channel.videos.filter { !$0.isNew }.count))
        let newChannel = testCorpus.allChannels.first(where: \.isNew)!
        #expect(yesterday.respond(host: newChannel.host, path: "/api/v1/video-channels/\(newChannel.name)", query: [:]).status == 404)
    }

    /// A host's own faults win field by field over `all`; hosts without an entry get `all`.
    @Test func hostFaultsFillInFromAll() {
        let faults = SimFaults(hosts: ["tilvids.com": .init(latencyMs: 50, payloadMutation: .nulls)],
                               all: .init(latencyMs: 5, rateLimited: 1))
        let resolved = faults.resolved()
        #expect(resolved.byHost["tilvids.com"] == .init(latencyMs: 50, rateLimited: 1, payloadMutation: .nulls))
        #expect(resolved.others == .init(latencyMs: 5, rateLimited: 1))
    }
}
