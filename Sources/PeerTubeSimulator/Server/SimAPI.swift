import Foundation

/// The REST API of every simulated instance and of the instance directory, with PeerTube's rules:
/// list envelopes, `start`/`count` validation (count ≤ 100, default 15), sort allow-lists and
/// defaults, `skipCount`, NSFW hidden unless asked for, truncated descriptions in lists, 404
/// problem bodies, 400 with an empty body for unknown API routes.
public struct SimAPI: Sendable {
    public let corpus: SimCorpus
    /// The moment the instances show: videos and channels created later are not there yet.
    public var viewTime: Int64
    /// Host names answering as the JoinPeerTube directory (IP literals always do).
    public var directoryHosts: Set<String> = ["instances.joinpeertube.org"]
    /// Entries the directory lists; defaults to the corpus hosts.
    public var directoryEntries: [String]?

    public init(corpus: SimCorpus, viewTime: Int64? = nil) {
        self.corpus = corpus
        self.viewTime = viewTime ?? corpus.todayAt
    }

    /// Answers `GET path?query` sent to `host` (the Host header without port).
    public func respond(host: String, path: String, query: [String: String]) -> SimResponse {
        let instancePath = path + (query.isEmpty ? "" : "?" + query.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "&"))
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
            .map { String($0).removingPercentEncoding ?? String($0) }
        if directoryHosts.contains(host) || isIPLiteral(host) {
            if segments == ["api", "v1", "instances", "hosts"] { return directory(query: query, instance: instancePath) }
            return segments.first == "api" ? .unknownRoute : .text("not found", status: 404)
        }
        guard let instance = corpus.instance(host) else {
            return .text("421 Misdirected Request: no such host here", status: 421)
        }
        if path == "/robots.txt" { return .text("User-agent: *\nDisallow:\n") }
        guard segments.count >= 2, segments[0] == "api", segments[1] == "v1" else {
            return .spaPage
        }
        let payloads = SimPayloads(corpus: corpus, host: host, oldVersion: instance.isOldVersion)
        switch Array(segments.dropFirst(2)) {
        case ["ping"]:
            return .text("pong")
        case ["config"]:
            return .json(["serverVersion": instance.serverVersion, "serverCommit": "sim",
                          "instance": ["name": instance.name, "shortDescription": "A simulated PeerTube instance", "isNSFW": false,
                                       "defaultNSFWPolicy": "do_not_list", "defaultClientRoute": "/videos/trending"],
                          "signup": ["allowed": false, "allowedForCurrentIP": false, "requiresEmailVerification": true]])
        case ["server", "stats"]:
            let local = instance.channels.flatMap { corpus.videos(of: $0, at: viewTime) }.count
            return .json(["totalUsers": Set(instance.channels.map(\.account.id)).count, "totalLocalVideos": local,
                          "totalVideos": local, "totalInstanceFollowers": followers(of: host).count,
                          "totalInstanceFollowing": instance.follows.count, "totalLocalPlaylists": 0])
        case ["server", "following"]:
            let items = instance.follows.enumerated().map { index, other in
                payloads.follow(id: index + 1, follower: payloads.actor(host: host, id: 1), following: payloads.actor(host: other, id: 100 + index))
            }
            return list(items, query: query, instance: instancePath, sorts: ["createdAt", "redundancyAllowed", "state"])
        case ["server", "followers"]:
            var items = followers(of: host).enumerated().map { index, other in
                payloads.follow(id: index + 1, follower: payloads.actor(host: other, id: 200 + index), following: payloads.actor(host: host, id: 1))
            }
            // Followers hold non-PeerTube actors too (a Mastodon account).
            items.append(payloads.follow(id: 999, follower: payloads.actor(host: "mastodon.social", name: "someone", id: 999),
                                         following: payloads.actor(host: host, id: 1)))
            return list(items, query: query, instance: instancePath, sorts: ["createdAt", "state", "score"])
        case ["video-channels"]:
            return channelList(on: host, payloads: payloads, query: query, instance: instancePath)
        case let route where route.count == 2 && route[0] == "video-channels":
            guard let (localID, channel) = resolveChannel(route[1], on: host) else {
                return .notFound("Video channel not found", instance: instancePath)
            }
            return .json(payloads.channel(channel, localID: localID))
        case let route where route.count == 3 && route[0] == "video-channels" && route[2] == "videos":
            guard let (localID, channel) = resolveChannel(route[1], on: host) else {
                return .notFound("Video channel not found", instance: instancePath)
            }
            return videoList(channel, localID: localID, payloads: payloads, query: query, instance: instancePath)
        case let route where route.count == 2 && route[0] == "videos":
            return videoDetails(route[1], on: host, payloads: payloads, instance: instancePath)
        default:
            return .unknownRoute
        }
    }

    private func isIPLiteral(_ host: String) -> Bool {
        host.contains(":") || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { Int($0) != nil }
    }

    private func followers(of host: String) -> [String] {
        corpus.instances.filter { $0.follows.contains(host) }.map(\.host)
    }

    // MARK: lists

    /// Validated `start`/`count`, or the 400 PeerTube sends.
    private func paging(_ query: [String: String], instance: String, maxCount: Int? = 100, defaultCount: Int = 15)
        -> Result<(start: Int, count: Int), SimResponseError> {
        var start = 0
        var count = defaultCount
        if let raw = query["start"] {
            guard let value = Int(raw), value >= 0 else {
                return .failure(.init(.badRequest("start", value: raw, message: "Should have a number start", instance: instance)))
            }
            start = value
        }
        if let raw = query["count"] {
            guard let value = Int(raw), value >= 0, maxCount.map({ value <= $0 }) ?? true else {
                return .failure(.init(.badRequest("count", value: raw, message: "Should have a number count (max: \(maxCount ?? 0))", instance: instance)))
            }
            count = value
        }
        return .success((start, count))
    }

    /// The sort key (without `-`) and direction, or the 400 for a value outside the allow-list.
    private func sorting(_ query: [String: String], allowed: [String], defaultSort: String, instance: String)
        -> Result<(key: String, descending: Bool), SimResponseError> {
        let raw = query["sort"] ?? defaultSort
        let key = raw.hasPrefix("-") ? String(raw.dropFirst()) : raw
        guard allowed.contains(key) else {
            return .failure(.init(.badRequest("sort", value: raw, message: "Should have correct sortable column", instance: instance)))
        }
        return .success((key, raw.hasPrefix("-")))
    }

    private func list(_ items: [[String: Any]], query: [String: String], instance: String, sorts: [String]) -> SimResponse {
        switch (paging(query, instance: instance), sorting(query, allowed: sorts, defaultSort: "-createdAt", instance: instance)) {
        case (.failure(let error), _), (_, .failure(let error)): return error.response
        case (.success(let page), .success):
            return .json(["total": items.count, "data": Array(items.dropFirst(page.start).prefix(page.count))])
        }
    }

    private func channelList(on host: String, payloads: SimPayloads, query: [String: String], instance: String) -> SimResponse {
        let page: (start: Int, count: Int)
        let sort: (key: String, descending: Bool)
        switch paging(query, instance: instance) {
        case .failure(let error): return error.response
        case .success(let value): page = value
        }
        switch sorting(query, allowed: ["id", "name", "updatedAt", "createdAt"], defaultSort: "-createdAt", instance: instance) {
        case .failure(let error): return error.response
        case .success(let value): sort = value
        }
        let channels = corpus.listedChannels(on: host, at: viewTime).sorted { a, b in
            let order: Bool
            switch sort.key {
            case "id": order = a.localID < b.localID
            case "name": order = a.channel.name < b.channel.name
            default: order = a.channel.createdAt < b.channel.createdAt
            }
            let equal = sort.key == "id" ? a.localID == b.localID
                : sort.key == "name" ? a.channel.name == b.channel.name : a.channel.createdAt == b.channel.createdAt
            if equal { return a.localID < b.localID }
            return sort.descending ? !order : order
        }
        let data = channels.dropFirst(page.start).prefix(page.count).map { payloads.channel($0.channel, localID: $0.localID) }
        return .json(["total": channels.count, "data": Array(data)])
    }

    /// A handle is the channel's actor name (case-insensitive), bare for local channels or
    /// `name@host` for any channel this instance knows.
    private func resolveChannel(_ handle: String, on host: String) -> (Int, SimCorpus.Channel)? {
        let parts = handle.lowercased().split(separator: "@", maxSplits: 1).map(String.init)
        guard let name = parts.first else { return nil }
        let origin = parts.count > 1 ? parts[1] : host
        return corpus.listedChannels(on: host, at: viewTime)
            .first { $0.channel.name.lowercased() == name && $0.channel.host == origin }
            .map { ($0.localID, $0.channel) }
    }

    private func videoList(_ channel: SimCorpus.Channel, localID: Int, payloads: SimPayloads, query: [String: String],
                           instance: String) -> SimResponse {
        let page: (start: Int, count: Int)
        let sort: (key: String, descending: Bool)
        switch paging(query, instance: instance) {
        case .failure(let error): return error.response
        case .success(let value): page = value
        }
        let sorts = ["name", "duration", "createdAt", "publishedAt", "originallyPublishedAt", "views", "likes", "comments",
                     "trending", "hot", "best", "localVideoFilesSize", "match"]
        switch sorting(query, allowed: sorts, defaultSort: "-publishedAt", instance: instance) {
        case .failure(let error): return error.response
        case .success(let value): sort = value
        }
        let nsfw = query["nsfw"] ?? "false"
        let videos = corpus.videos(of: channel, at: viewTime)
            .filter { nsfw == "both" || (nsfw == "true" ? $0.nsfw : !$0.nsfw) }
            .sorted { a, b in
                func key(_ v: SimCorpus.Video) -> Double {
                    switch sort.key {
                    case "duration": Double(v.duration)
                    case "createdAt": Double(v.createdAt)
                    case "views": Double(v.views)
                    case "likes": Double(v.likes)
                    case "comments": Double(v.comments)
                    default: Double(v.publishedAt)
                    }
                }
                if sort.key == "name", a.name != b.name { return sort.descending ? a.name > b.name : a.name < b.name }
                if key(a) != key(b) { return sort.descending ? key(a) > key(b) : key(a) < key(b) }
                return a.id < b.id
            }
        let data = videos.dropFirst(page.start).prefix(page.count)
            .map { payloads.video($0, channel: channel, channelLocalID: localID, details: false) }
        var body: [String: Any] = ["data": Array(data)]
        if query["skipCount"] != "true" { body["total"] = videos.count }
        return .json(body)
    }

    private func videoDetails(_ id: String, on host: String, payloads: SimPayloads, instance: String) -> SimResponse {
        let isNumeric = !id.isEmpty && id.allSatisfy(\.isNumber)
        let isUUID = id.count == 36 && id.filter { $0 == "-" }.count == 4
        let isShort = id.count == 22 && id.allSatisfy { $0.isLetter || $0.isNumber }
        guard isNumeric || isUUID || isShort else {
            return .badRequest("id", value: id, message: "Should have a valid id", instance: instance)
        }
        for channel in corpus.instance(host)?.channels ?? [] {
            for video in corpus.videos(of: channel, at: viewTime)
            where (isNumeric && String(video.id) == id) || video.uuid == id || video.shortUUID == id {
                return .json(payloads.video(video, channel: channel, channelLocalID: channel.id, details: true))
            }
        }
        return .notFound("Video not found", instance: instance)
    }

    private func directory(query: [String: String], instance: String) -> SimResponse {
        let hosts = directoryEntries ?? corpus.instances.map(\.host)
        switch paging(query, instance: instance, maxCount: nil, defaultCount: 20) {
        case .failure(let error): return error.response
        case .success(let page):
            let data = hosts.dropFirst(page.start).prefix(page.count).map { ["host": $0, "createdAt": "2024-01-01T00:00:00.000Z"] }
            return .json(["total": hosts.count, "data": Array(data)])
        }
    }
}

struct SimResponseError: Error {
    let response: SimResponse
    init(_ response: SimResponse) { self.response = response }
}
