import Foundation
import GRDB
import Logging

/// Deterministic PeerTube-like databases of any size, for benchmarks and tests: the same seed and
/// shape give the same rows on every machine.
///
/// Row `i` of every table is a pure function of `(seed, i)`, so a prod DB holding videos `0..<N` and a
/// staging DB holding videos `N..<N+M` describe one consistent federation: staging's rows are new
/// to prod by construction, and channels shared by both are identical.
public struct SyntheticCatalog: Sendable {
    public var seed: UInt64
    public var instanceCount: Int
    public var embeddingDim: Int

    /// Embeddings cluster around this many topic centres, as real ones do: ANN recall on uniform
    /// noise would say nothing about real data.
    public var topicCount: Int

    public init(seed: UInt64 = 1234, instanceCount: Int = 12, embeddingDim: Int = 384, topicCount: Int = 200) {
        self.seed = seed
        self.instanceCount = max(1, instanceCount)
        self.embeddingDim = embeddingDim
        self.topicCount = max(1, topicCount)
    }

    /// The hidden topic of video `index` (never stored in a DB).
    public func topic(ofVideo index: Int) -> Int { Int(mix(UInt64(index) &+ 0x7071) % UInt64(topicCount)) }

    /// What one generated file holds.
    public struct Content: Sendable {
        public var videos: Range<Int>
        /// Channel indices present in `channels`; videos draw their channel from this range.
        public var channels: Range<Int>
        public var withEmbeddings: Bool
        /// Prod has `videos.popularity`; staging (crawler schema) does not.
        public var isProd: Bool

        public init(videos: Range<Int>, channels: Range<Int>, withEmbeddings: Bool, isProd: Bool) {
            self.videos = videos
            self.channels = channels
            self.withEmbeddings = withEmbeddings
            self.isProd = isProd
        }
    }

    public func host(_ index: Int) -> String { "\(Self.hostStems[index % Self.hostStems.count])\(index / Self.hostStems.count).example" }
    public func channelHost(_ channel: Int) -> String { host(channel % instanceCount) }
    func channelID(_ channel: Int) -> String { String(10_000 + channel) }

    /// The channel of video `video`, drawn from `channels`.
    public func channel(ofVideo video: Int, in channels: Range<Int>) -> Int {
        channels.lowerBound + Int(mix(UInt64(video) &+ 0x5151) % UInt64(channels.count))
    }

    /// Writes a new database file at `path` (replacing any) with `content`.
    ///
    /// - Throws: `StorageError` or `DatabaseError` when the file cannot be written.
    public func write(_ content: Content, to path: String, logger: Logger) throws {
        try DatabaseFile.remove(path)
        let queue = try DatabaseFile.open(path, role: "synthetic DB", access: .create)
        let clock = ContinuousClock.now
        try queue.writeWithoutTransaction { db in
            // A generated file has no value until complete: skip the journal for speed.
            // A page cache for the whole index working set: the text keys do not arrive in key order.
            try db.execute(sql: "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576")
            try db.execute(sql: Schema.crawlerTables)
            try db.execute(sql: Schema.videoEmbeddingsTable)
            if content.isProd {
                try db.execute(sql: Schema.popularityColumn)
                try db.execute(sql: Schema.popularityIndex)
            }
            try db.inTransaction {
                try insertInstances(db)
                try insertChannels(content.channels, db)
                try insertVideos(content, db)
                return .commit
            }
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
        }
        logger.info("synthetic DB \(path): \(content.videos.count) videos, \(content.channels.count) channels, embeddings=\(content.withEmbeddings) in \(clock.elapsedMilliseconds)ms")
    }

    private func insertInstances(_ db: Database) throws {
        let statement = try db.makeStatement(sql: "INSERT INTO instances(host, health_status) VALUES (?, 'ok')")
        for index in 0..<instanceCount { try statement.execute(arguments: [host(index)]) }
    }

    private func insertChannels(_ channels: Range<Int>, _ db: Database) throws {
        let statement = try db.makeStatement(sql: """
            INSERT INTO channels(channel_id, channel_name, channel_url, display_name, instance_domain,
                                 videos_count, followers_count, avatar_url)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for channel in channels {
            let host = channelHost(channel)
            let slug = "channel_\(channel)"
            try statement.execute(arguments: [
                channelID(channel), slug, "https://\(host)/video-channels/\(slug)",
                "\(Self.words[channel % Self.words.count].capitalized) Channel \(channel)", host,
                Int(mix(UInt64(channel)) % 400), Int(mix(UInt64(channel) &+ 7) % 5000),
                "https://\(host)/lazy-static/avatars/\(channel).webp",
            ])
        }
    }

    private func insertVideos(_ content: Content, _ db: Database) throws {
        let video = try db.makeStatement(sql: """
            INSERT INTO videos(video_id, video_uuid, video_numeric_id, instance_domain, channel_id, channel_name,
                               channel_url, account_name, account_url, title, description, tags_json, category,
                               published_at, video_url, duration, thumbnail_url, embed_path, views, likes, dislikes,
                               comments_count, nsfw, preview_path, last_checked_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let embedding = try db.makeStatement(sql: """
            INSERT INTO video_embeddings(video_id, instance_domain, embedding, embedding_dim, model_name, created_at)
            VALUES (?, ?, ?, ?, 'all-MiniLM-L6-v2', '2026-01-01T00:00:00+00:00')
            """)
        // Rows are generated in parallel, a chunk at a time (each row's values come from its own
        // seeded generator, so the order of generation changes nothing), and inserted in order.
        let chunk = 8_192
        for start in stride(from: content.videos.lowerBound, to: content.videos.upperBound, by: chunk) {
            let rows = start..<min(start + chunk, content.videos.upperBound)
            for row in generate(rows, channels: content.channels, withEmbeddings: content.withEmbeddings) {
                try video.execute(arguments: row.video)
                if let blob = row.embedding { try embedding.execute(arguments: [row.videoID, row.host, blob, embeddingDim]) }
            }
        }
    }

    /// One video row's values (in the INSERT's column order) and its embedding blob.
    private struct GeneratedVideo: @unchecked Sendable {
        var video: StatementArguments
        var videoID: String
        var host: String
        var embedding: Data?
    }

    private func generate(_ rows: Range<Int>, channels: Range<Int>, withEmbeddings: Bool) -> [GeneratedVideo] {
        let epoch2020: Int64 = 1_577_836_800_000
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, rows.count / 256))
        let output = UnsafeMutableBufferPointer<GeneratedVideo?>.allocate(capacity: rows.count)
        output.initialize(repeating: nil)
        defer { _ = output.deinitialize(); output.deallocate() }
        nonisolated(unsafe) let slots = output
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var vector = [Float](repeating: 0, count: embeddingDim)
            for offset in stride(from: worker, to: rows.count, by: workers) {
                let index = rows.lowerBound + offset
                var rng = SplitMix64(state: mix(UInt64(index)) ^ seed)
                let channel = channel(ofVideo: index, in: channels)
                let host = channelHost(channel)
                let uuid = Self.uuid(&rng)
                let title = (0..<(3 + Int(rng.next() % 6))).map { _ in Self.words[Int(rng.next() % UInt64(Self.words.count))] }
                    .joined(separator: " ").capitalized
                let description = (0..<(8 + Int(rng.next() % 50))).map { _ in Self.words[Int(rng.next() % UInt64(Self.words.count))] }
                    .joined(separator: " ")
                let tags = (0..<Int(rng.next() % 5)).map { _ in "\"\(Self.words[Int(rng.next() % UInt64(Self.words.count))])\"" }
                let videoID = "\(index + 1)"
                let arguments: StatementArguments = [
                    videoID, uuid, index + 1, host, channelID(channel), "Channel \(channel)",
                    "https://\(host)/video-channels/channel_\(channel)", "user\(channel)", "https://\(host)/accounts/user\(channel)",
                    title, description, "[\(tags.joined(separator: ","))]", Self.categories[Int(rng.next() % UInt64(Self.categories.count))],
                    epoch2020 + Int64(rng.next() % 180_000_000_000), "https://\(host)/videos/watch/\(uuid)",
                    Int(rng.next() % 7200), "https://\(host)/lazy-static/thumbnails/\(uuid).jpg", "/videos/embed/\(uuid)",
                    Int(rng.next() % 100_000), Int(rng.next() % 2_000), Int(rng.next() % 100), Int(rng.next() % 300),
                    rng.next() % 20 == 0 ? 1 : 0, "/lazy-static/previews/\(uuid).jpg", epoch2020 + 200_000_000_000,
                ]
                var blob: Data?
                if withEmbeddings {
                    topicVector(topic(ofVideo: index), &vector, &rng)
                    blob = EmbeddingBlob.encode(vector)
                }
                slots[offset] = GeneratedVideo(video: arguments, videoID: videoID, host: host, embedding: blob)
            }
        }
        return output.map { $0! }
    }

    /// The topic's centre plus noise, normalised: neighbours mostly share the topic.
    private func topicVector(_ topic: Int, _ vector: inout [Float], _ rng: inout SplitMix64) {
        var centre = SplitMix64(state: mix(UInt64(topic) &+ 0xC0FFEE))
        var norm: Float = 0
        for i in vector.indices {
            let x = uniform(&centre) + 0.45 * uniform(&rng)
            vector[i] = x
            norm += x * x
        }
        let scale = 1 / max(norm.squareRoot(), .leastNormalMagnitude)
        for i in vector.indices { vector[i] *= scale }
    }

    private func uniform(_ rng: inout SplitMix64) -> Float {
        Float(Int64(bitPattern: rng.next() >> 11) - (1 << 52)) / Float(1 << 52)
    }

    private func mix(_ value: UInt64) -> UInt64 {
        var rng = SplitMix64(state: value ^ (seed &* 0x9E37_79B9_7F4A_7C15))
        return rng.next()
    }

    private static func uuid(_ rng: inout SplitMix64) -> String {
        let hex = String(format: "%016llx%016llx", rng.next(), rng.next())
        let c = Array(hex)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-4\(String(c[13..<16]))-a\(String(c[17..<20]))-\(String(c[20..<32]))"
    }

    static let hostStems = ["tube.", "video.", "peertube.", "media.", "watch.", "framatube."]
    static let categories = ["Music", "Films", "Vehicles", "Art", "Sports", "Travels", "Gaming", "People", "Comedy",
                             "Entertainment", "News & Politics", "How To", "Education", "Activism",
                             "Science & Technology", "Animals", "Kids", "Food"]
    static let words = ["linux", "freedom", "music", "garden", "bicycle", "cooking", "soup", "review", "tutorial",
                        "concert", "synth", "guitar", "climbing", "train", "journey", "pottery", "timelapse", "science",
                        "space", "physics", "history", "podcast", "interview", "festival", "documentary", "nature",
                        "river", "mountain", "city", "night", "morning", "coffee", "bread", "recipe", "repair",
                        "electric", "solar", "community", "privacy", "federation", "open", "source", "game", "retro",
                        "speedrun", "drawing", "painting", "poetry", "chanson", "fromage", "wandern", "zug", "cocina",
                        "viaje", "música", "école", "über", "日本", "音楽", "料理", "🎸", "☕"]
}
