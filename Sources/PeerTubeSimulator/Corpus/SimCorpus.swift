import Foundation
import PeerTubeUpdater

/// A deterministic PeerTube federation: the same hosts, seed and shape give the same instances,
/// accounts, channels and videos on every machine. Every video carries a hidden topic label (never
/// served, never stored in a DB) so similarity quality can be measured against it.
///
/// Time has two marks: `snapshotAt` ("yesterday": what the embedded-default prod holds) and `todayAt`
/// (what the live instances show). Channels and videos created between them are "today's" part.
public struct SimLabel: Sendable, Equatable {
    public var id: Int
    public var label: String
}

// MARK: - SimCorpus

public struct SimCorpus: Sendable {
    public struct Shape: Sendable, Codable, Equatable {
        /// Local channels per instance that existed yesterday.
        public var channelsPerInstance = 8
        /// Channels created today per instance.
        public var newChannelsPerInstance = 2
        public var minVideosPerChannel = 3
        public var maxVideosPerChannel = 40
        /// Videos published today in an old channel: 0…this.
        public var maxNewVideosPerChannel = 4
        /// Other instances each instance follows (their channels appear in its channel list).
        public var followsPerInstance = 2
        public var nsfwPercent = 7
        /// Descriptions longer than the 250 characters a list shows.
        public var longDescriptionPercent = 30

        public init() {}
    }

    public struct Account: Sendable, Equatable {
        public var id: Int
        public var name: String
        public var displayName: String
        public var host: String
        public var createdAt: Int64
    }

    public struct Channel: Sendable, Equatable {
        public var id: Int
        public var name: String
        public var displayName: String
        public var description: String?
        public var host: String
        public var account: Account
        public var createdAt: Int64
        public var followersCount: Int
        public var avatarPath: String
        public var isNew: Bool
        public var videos: [Video]
    }

    public struct Video: Sendable, Equatable {
        public var id: Int
        public var uuid: String
        public var shortUUID: String
        public var name: String
        public var description: String
        public var tags: [String]
        public var category: SimLabel?
        public var licence: SimLabel
        public var language: String
        public var nsfw: Bool
        public var duration: Int
        public var views: Int
        public var likes: Int
        public var dislikes: Int
        public var comments: Int
        public var createdAt: Int64
        public var publishedAt: Int64
        /// The hidden label: what the video is about.
        public var topic: Int
        public var isNew: Bool

        public static func == (a: Video, b: Video) -> Bool { a.uuid == b.uuid }
    }

    public struct Instance: Sendable {
        public var host: String
        public var name: String
        public var serverVersion: String
        /// Old servers (< 4.2) send `avatar` instead of `avatars` and no `truncatedDescription`/`comments`.
        public var isOldVersion: Bool { serverVersion.hasPrefix("3.") || serverVersion.hasPrefix("4.0") || serverVersion.hasPrefix("4.1") }
        public var follows: [String]
        public var channels: [Channel]
        public var createdAt: Int64
    }

    public let seed: UInt64
    public let shape: Shape
    public private(set) var instances: [Instance]
    public let snapshotAt: Int64
    public let todayAt: Int64

    public static let defaultSeed: UInt64 = 20_260_115
    /// The hosts of TestResources/test-instances.json.
    public static let defaultHosts = ["framatube.org", "tilvids.com", "video.blender.org", "peertube.tv", "diode.zone"]

    /// 2026-01-15T06:00:00Z: "now" for the live instances; yesterday is the day before.
    public static let defaultTodayAt: Int64 = 1_768_456_800_000

    public init(hosts: [String], seed: UInt64 = SimCorpus.defaultSeed, shape: Shape = Shape(), todayAt: Int64 = SimCorpus.defaultTodayAt) {
        self.seed = seed
        self.shape = shape
        self.todayAt = todayAt
        snapshotAt = todayAt - 86_400_000
        var generator = Generator(seed: seed, shape: shape, todayAt: todayAt, snapshotAt: todayAt - 86_400_000)
        instances = hosts.enumerated().map { index, host in generator.instance(host: host, index: index, hosts: hosts) }
    }

    public func instance(_ host: String) -> Instance? { instances.first { $0.host == host } }

    /// Every local channel of every instance.
    public var allChannels: [Channel] { instances.flatMap(\.channels) }
    public var allVideos: [Video] { allChannels.flatMap(\.videos) }

    /// Day two: what changes upstream after a crawl. `change` edits the video with this UUID (its
    /// counts, title, …) wherever it is; false when no video has it.
    @discardableResult
    public mutating func editVideo(uuid: String, _ change: (inout Video) -> Void) -> Bool {
        guard let (i, c, v) = place(ofVideo: uuid) else { return false }
        change(&instances[i].channels[c].videos[v])
        return true
    }

    /// Day two: the video with this UUID is deleted upstream (its details answer 404, lists omit it).
    @discardableResult
    public mutating func deleteVideo(uuid: String) -> Bool {
        guard let (i, c, v) = place(ofVideo: uuid) else { return false }
        instances[i].channels[c].videos.remove(at: v)
        return true
    }

    /// Day two: the channel named `name` on `host` is deleted upstream, with its videos (its list answers 404).
    @discardableResult
    public mutating func deleteChannel(named name: String, on host: String) -> Bool {
        guard let i = instances.firstIndex(where: { $0.host == host }),
              let c = instances[i].channels.firstIndex(where: { $0.name == name }) else { return false }
        instances[i].channels.remove(at: c)
        return true
    }

    /// Instance, channel and video indexes of the video with this UUID.
    private func place(ofVideo uuid: String) -> (Int, Int, Int)? {
        for i in instances.indices {
            for c in instances[i].channels.indices {
                if let v = instances[i].channels[c].videos.firstIndex(where: { $0.uuid == uuid }) { return (i, c, v) }
            }
        }
        return nil
    }

    /// What `/api/v1/video-channels` of `host` lists at `time`: its own channels and those of the
    /// servers it follows, each with the id it has on `host` (remote ones get local ids from 1000).
    public func listedChannels(on host: String, at time: Int64) -> [(localID: Int, channel: Channel)] {
        guard let instance = instance(host) else { return [] }
        var result = instance.channels.filter { $0.createdAt <= time }.map { ($0.id, $0) }
        var remoteID = 1000
        for followed in instance.follows {
            for channel in self.instance(followed)?.channels ?? [] {
                remoteID += 1
                if channel.createdAt <= time { result.append((remoteID, channel)) }
            }
        }
        return result
    }

    /// Names a hostile or careless instance may give its channels: path tricks, percent signs,
    /// quotes, SQL, non-ASCII, blanks.
    public static let hostileChannelNames = [
        "../../etc/passwd", "..", ".", "a%2Fb", "slash/inside", "it's \"quoted\"", "x'); DROP TABLE videos; --",
        "semi;colon?q=1#frag", "名前 ünïcödé 🎬", " spaced\ttab ",
    ]

    /// Text a crawler must store as it came: quotes, SQL, markup, percent escapes, bidi controls, emoji.
    public static let hostileTitles = [
        "Robert'); DROP TABLE videos;--", "\"double\" 'single' `back`", "<script>alert(1)</script>", "tab\tinside",
        "emoji 🎬 and RTL \u{202E}txet", "%2F%2E%2E%00 percent", "line\r\nbreak", "\\backslash\\",
    ]

    /// The same corpus with `host`'s channels renamed to `hostileChannelNames` and its videos' titles
    /// and descriptions starting with `hostileTitles`.
    public func withHostileText(on host: String) -> SimCorpus {
        var copy = self
        guard let index = instances.firstIndex(where: { $0.host == host }) else { return copy }
        let names = Self.hostileChannelNames
        let titles = Self.hostileTitles
        for (c, channel) in copy.instances[index].channels.enumerated() {
            copy.instances[index].channels[c].name = names[c % names.count] + (c < names.count ? "" : "-\(c)")
            copy.instances[index].channels[c].displayName = titles[c % titles.count]
            for (v, video) in channel.videos.enumerated() {
                copy.instances[index].channels[c].videos[v].name = "\(titles[(c + v) % titles.count]) \(video.name)"
                copy.instances[index].channels[c].videos[v].description = "'; DELETE FROM videos; -- \(video.description)"
            }
        }
        return copy
    }

    /// Videos of a channel visible at `time`.
    public func videos(of channel: Channel, at time: Int64) -> [Video] {
        channel.videos.filter { $0.publishedAt <= time }
    }
}

// MARK: - Generator

/// The seeded generator behind `SimCorpus`.
private struct Generator {
    let seed: UInt64
    let shape: SimCorpus.Shape
    let todayAt: Int64
    let snapshotAt: Int64
    var rng: SplitMix64

    init(seed: UInt64, shape: SimCorpus.Shape, todayAt: Int64, snapshotAt: Int64) {
        self.seed = seed
        self.shape = shape
        self.todayAt = todayAt
        self.snapshotAt = snapshotAt
        rng = SplitMix64(state: seed)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(rng.next() % UInt64(range.count))
    }

    mutating func percent(_ chance: Int) -> Bool { int(0...99) < chance }

    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    /// A time in `[from, to)`.
    mutating func time(_ from: Int64, _ to: Int64) -> Int64 { from + Int64(rng.next() % UInt64(max(1, to - from))) }

    mutating func instance(host: String, index: Int, hosts: [String]) -> SimCorpus.Instance {
        let others = hosts.filter { $0 != host }
        let follows = (0..<min(shape.followsPerInstance, others.count)).map { others[(index + $0) % others.count] }
        let fourYears: Int64 = 4 * 365 * 86_400_000
        let createdAt = time(snapshotAt - fourYears - 86_400_000 * 200, snapshotAt - fourYears)
        let versions = ["7.0.1", "6.3.2", "6.1.0", "5.2.1", "4.1.1"]
        var accounts: [SimCorpus.Account] = []
        var channels: [SimCorpus.Channel] = []
        var videoID = 1
        for channelIndex in 0..<(shape.channelsPerInstance + shape.newChannelsPerInstance) {
            let isNew = channelIndex >= shape.channelsPerInstance
            if accounts.isEmpty || percent(70) {
                let name = "\(pick(CorpusVocabulary.firstNames))_\(accounts.count + 1)"
                accounts.append(.init(id: accounts.count + 2, name: name, displayName: name.split(separator: "_")[0].capitalized,
                                      host: host, createdAt: time(createdAt, snapshotAt - fourYears / 2)))
            }
            let account = accounts[accounts.count - 1]
            let topic = int(0...(CorpusVocabulary.topics.count - 1))
            let language = pick(CorpusVocabulary.Language.allCases)
            let channelCreated = isNew ? time(snapshotAt, todayAt - 3_600_000) : time(account.createdAt, snapshotAt - 86_400_000 * 30)
            let topicName = CorpusVocabulary.topics[topic].name
            let slug = "\(topicName)_\(account.name)_\(channelIndex + 1)"
            var channel = SimCorpus.Channel(
                id: channelIndex + 1, name: slug,
                displayName: "\(account.displayName)'s \(topicName.capitalized)\(percent(30) ? " \(pick(CorpusVocabulary.emoji))" : "")",
                description: percent(60) ? sentence(topic: topic, language: language) : nil, host: host, account: account,
                createdAt: channelCreated, followersCount: int(0...4000),
                avatarPath: "/lazy-static/avatars/\(uuid()).webp", isNew: isNew, videos: [])
            let oldCount = isNew ? 0 : int(shape.minVideosPerChannel...max(shape.minVideosPerChannel, shape.maxVideosPerChannel))
            let newCount = int(0...max(0, shape.maxNewVideosPerChannel)) + (isNew ? 1 : 0)
            for n in 0..<(oldCount + newCount) {
                let fresh = n >= oldCount
                let published = fresh ? time(max(channelCreated, snapshotAt), todayAt - 60_000)
                    : time(channelCreated + 3_600_000, snapshotAt - 3_600_000)
                channel.videos.append(video(id: videoID, topic: percent(85) ? topic : int(0...(CorpusVocabulary.topics.count - 1)),
                                            language: percent(80) ? language : pick(CorpusVocabulary.Language.allCases),
                                            publishedAt: published, isNew: fresh || isNew))
                videoID += 1
            }
            channels.append(channel)
        }
        return .init(host: host, name: host.split(separator: ".").first.map { $0.capitalized } ?? host,
                     serverVersion: versions[index % versions.count], follows: follows, channels: channels, createdAt: createdAt)
    }

    mutating func video(id: Int, topic: Int, language: CorpusVocabulary.Language, publishedAt: Int64, isNew: Bool) -> SimCorpus.Video {
        let vocabulary = CorpusVocabulary.topics[topic]
        var title = fill(pick(CorpusVocabulary.titles[language]!), topic: topic, language: language)
        if percent(15) { title += " \(pick(CorpusVocabulary.emoji))" }
        let sentenceCount = percent(shape.longDescriptionPercent) ? int(8...30) : int(1...3)
        var parts = (0..<sentenceCount).map { _ in sentence(topic: topic, language: language) }
        if percent(25) { parts.append("**\(pick(vocabulary.words[language]!))** — https://\(vocabulary.name).example.org/notes/\(id)") }
        if percent(10) { parts.append("<b>\(pick(vocabulary.words[language]!))</b> <i>live</i>") }
        let description = parts.joined(separator: percent(50) ? "\r\n\r\n" : " ")
        let tagCount = int(0...5)
        var tags: [String] = []
        for _ in 0..<tagCount {
            let tag = pick(vocabulary.tags)
            if !tags.contains(tag) { tags.append(tag) }
        }
        let views = Int(pow(10, Double(int(0...500)) / 100))
        return .init(
            id: id, uuid: uuid(), shortUUID: shortUUID(), name: String(title.prefix(120)), description: description, tags: tags,
            category: percent(90) ? SimLabel(id: vocabulary.category.id, label: vocabulary.category.label) : nil,
            licence: { let l = pick(CorpusVocabulary.licences); return SimLabel(id: l.id, label: l.label) }(), language: language.rawValue,
            nsfw: percent(shape.nsfwPercent), duration: int(20...5400), views: views, likes: views / max(1, int(5...60)),
            dislikes: views / max(1, int(100...900)), comments: int(0...40),
            createdAt: publishedAt - Int64(int(60...7200)) * 1000, publishedAt: publishedAt, topic: topic, isNew: isNew)
    }

    mutating func sentence(topic: Int, language: CorpusVocabulary.Language) -> String {
        fill(pick(CorpusVocabulary.sentences[language]!), topic: topic, language: language)
    }

    mutating func fill(_ pattern: String, topic: Int, language: CorpusVocabulary.Language) -> String {
        let words = CorpusVocabulary.topics[topic].words[language]!
        let a = pick(words)
        var b = pick(words)
        if b == a { b = words[(words.firstIndex(of: a)! + 1) % words.count] }
        return pattern.replacingOccurrences(of: "{a}", with: a).replacingOccurrences(of: "{b}", with: b)
            .replacingOccurrences(of: "%n", with: String(int(1...99)))
    }

    mutating func uuid() -> String {
        let hex = String(format: "%016llx%016llx", rng.next(), rng.next())
        let c = Array(hex)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-4\(String(c[13..<16]))-a\(String(c[17..<20]))-\(String(c[20..<32]))"
    }

    mutating func shortUUID() -> String {
        let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
        return String((0..<22).map { _ in alphabet[int(0...(alphabet.count - 1))] })
    }
}
