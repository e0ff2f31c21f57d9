import Foundation
import GRDB

/// Every write the crawl makes to the staging DB. Each page is stored with its progress row in one
/// transaction, so an interrupted crawl resumes exactly after the last stored page. Upserts never
/// replace a known value with NULL (a payload lacking a field says nothing about it).
struct CrawlStore: Sendable {
    let db: DatabaseQueue

    static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    // MARK: instances

    func insertInstances(_ hosts: [String]) throws -> Int {
        let now = Self.nowMs()
        return try db.write { db in
            var inserted = 0
            for host in hosts {
                try db.execute(sql: "INSERT OR IGNORE INTO instances(host) VALUES (?)", arguments: [host])
                inserted += db.changesCount
                try db.execute(sql: """
                    INSERT OR IGNORE INTO instance_crawl_progress(host, status, updated_at) VALUES (?, 'pending', ?)
                    """, arguments: [host, now])
            }
            return inserted
        }
    }

    /// Instance hosts in host order, the first `limit` (0 = all).
    func instanceHosts(limit: Int) throws -> [String] {
        try db.read { db in
            try String.fetchAll(db, sql: "SELECT host FROM instances ORDER BY host \(limit > 0 ? "LIMIT \(limit)" : "")")
        }
    }

    func markInstance(_ host: String, error: FetchError?, source: String) throws {
        let now = Self.nowMs()
        try db.write { db in
            if let error {
                try db.execute(sql: """
                    UPDATE instances SET health_status = 'error', health_checked_at = ?, health_error = ?,
                        last_error = ?, last_error_at = ?, last_error_source = ? WHERE host = ?
                    """, arguments: [now, error.label, error.description, now, source, host])
            } else {
                try db.execute(sql: """
                    UPDATE instances SET health_status = 'ok', health_checked_at = ?, health_error = NULL,
                        last_error = NULL, last_error_at = NULL, last_error_source = NULL WHERE host = ?
                    """, arguments: [now, host])
            }
        }
    }

    /// Problems of a host that answered (its health stays as the last stage set it): kept in
    /// `last_error` with the stage that saw them.
    func recordInstanceProblem(_ host: String, _ problem: String, source: String) throws {
        let now = Self.nowMs()
        try db.write { db in
            try db.execute(sql: "UPDATE instances SET last_error = ?, last_error_at = ?, last_error_source = ? WHERE host = ?",
                           arguments: [problem, now, source, host])
        }
    }

    func setState(_ values: [String: String]) throws {
        try db.write { db in
            for (key, value) in values {
                try db.execute(sql: "INSERT OR REPLACE INTO crawl_state(key, value) VALUES (?, ?)", arguments: [key, value])
            }
        }
    }

    // MARK: progress rows

    /// Prepares a stage's progress table: without `resume` it starts empty; rows outside `keys` are
    /// dropped; missing ones are added as pending. Returns the keys still to do (pending, or
    /// in_progress/error from an interrupted run) with the offsets to resume from.
    func prepareProgress(_ progress: CrawlProgress, keys: [[String]], extra: (column: String, values: [String?])? = nil,
                         resume: Bool) throws -> [(key: [String], start: Int)] {
        let now = Self.nowMs()
        let (table, keyColumns) = (progress.table, progress.keyColumns)
        return try db.write { db in
            if !resume { try db.run("DELETE FROM \(table)") }
            let keyList = keyColumns.joined(separator: ", ")
            try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS crawl_keys(a TEXT, b TEXT)")
            try db.execute(sql: "DELETE FROM crawl_keys")
            for key in keys {
                try db.execute(sql: "INSERT INTO crawl_keys(a, b) VALUES (?, ?)", arguments: [key[0], key.count > 1 ? key[1] : nil])
            }
            let match = keyColumns.count == 1 ? "k.a = \(table).\(keyColumns[0])"
                : "k.a = \(table).\(keyColumns[0]) AND k.b = \(table).\(keyColumns[1])"
            try db.run("DELETE FROM \(table) WHERE NOT EXISTS (SELECT 1 FROM crawl_keys k WHERE \(match))")
            for (index, key) in keys.enumerated() {
                var columns = keyColumns + ["status", "updated_at"]
                var values: [DatabaseValueConvertible?] = key + ["pending", now]
                if let extra {
                    columns.append(extra.column)
                    values.append(extra.values[index])
                }
                try db.execute(sql: """
                    INSERT OR IGNORE INTO \(table)(\(columns.joined(separator: ", ")))
                    VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))
                    """, arguments: StatementArguments(values))
            }
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(keyList), status, last_start FROM \(table) WHERE status IN ('pending', 'in_progress', 'error')
                """)
            let todo = Dictionary(rows.map { row in
                (keyColumns.map { row[$0] as String }, row["status"] == "pending" ? 0 : (row["last_start"] as Int))
            }, uniquingKeysWith: { first, _ in first })
            return keys.compactMap { key in todo[key].map { (key, $0) } }
        }
    }

    func setProgress(_ progress: CrawlProgress, key: [String], status: String, nextStart: Int, error: FetchError? = nil) throws {
        try db.write { db in try setProgress(db, progress, key: key, status: status, nextStart: nextStart, error: error) }
    }

    private func setProgress(_ db: Database, _ progress: CrawlProgress, key: [String], status: String,
                             nextStart: Int, error: FetchError? = nil) throws {
        let now = Self.nowMs()
        let match = progress.keyColumns.map { "\($0) = ?" }.joined(separator: " AND ")
        var assignments = "status = ?, last_start = ?, updated_at = ?"
        var values: [any DatabaseValueConvertible & Sendable] = [status, nextStart, now]
        if progress.recordsErrors {
            assignments += ", last_error = ?, last_error_at = ?"
            values += [error?.description ?? DatabaseValue.null, error == nil ? DatabaseValue.null : now.databaseValue]
        }
        try db.run("UPDATE \(progress.table) SET \(assignments) WHERE \(match)", arguments: StatementArguments(values + key))
    }

    /// Where an interrupted unit of work continues: the offset after its last stored page.
    func resumeOffset(_ progress: CrawlProgress, key: [String]) throws -> Int {
        let match = progress.keyColumns.map { "\($0) = ?" }.joined(separator: " AND ")
        return try db.read { db in
            try Int.fetchOne(db, sql: "SELECT last_start FROM \(progress.table) WHERE \(match)", arguments: StatementArguments(key)) ?? 0
        }
    }

    // MARK: channels

    func existingChannelIDs(host: String, among ids: [String]) throws -> Set<String> {
        try db.read { try $0.existingValues(ids, of: "channel_id", in: "channels", where: "instance_domain", is: host) }
    }

    /// Stores a page of channels and the host's progress in one transaction.
    func storeChannels(_ channels: [ChannelRecord], host: String, nextStart: Int) throws {
        try db.write { db in
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO channels(channel_id, channel_name, channel_url, display_name, instance_domain,
                                     videos_count, followers_count, avatar_url)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(channel_id, instance_domain) DO UPDATE SET
                    channel_name = COALESCE(excluded.channel_name, channel_name),
                    channel_url = COALESCE(excluded.channel_url, channel_url),
                    display_name = COALESCE(excluded.display_name, display_name),
                    videos_count = COALESCE(excluded.videos_count, videos_count),
                    followers_count = COALESCE(excluded.followers_count, followers_count),
                    avatar_url = COALESCE(excluded.avatar_url, avatar_url)
                """)
            for c in channels {
                try upsert.execute(arguments: [c.channelID, c.channelName, c.channelURL, c.displayName, c.instanceDomain,
                                               c.videosCount, c.followersCount, c.avatarURL])
            }
            try setProgress(db, .channels, key: [host],
                            status: "in_progress", nextStart: nextStart)
        }
    }

    /// Channels whose videos to crawl: on `hosts`, with a slug, and a video count that is unknown
    /// (found in this run) or at least 1; the first `limit` by host and id (0 = all).
    func channelsToCrawl(hosts: [String], limit: Int) throws -> [ChannelRecord] {
        try channels(on: hosts, where: "videos_count IS NULL OR videos_count >= 1", limit: limit)
    }

    /// Channels of `hosts` whose video count is unknown (or every one with `all`).
    func channelsToCount(hosts: [String], all: Bool) throws -> [ChannelRecord] {
        try channels(on: hosts, where: all ? "1" : "videos_count IS NULL", limit: 0)
    }

    /// Channels with a slug on `hosts` that match `condition`, ordered by host and id.
    private func channels(on hosts: [String], where condition: String, limit: Int) throws -> [ChannelRecord] {
        guard !hosts.isEmpty else { return [] }
        return try db.read { db in
            try Row.fetchAll(db, sql: """
                SELECT channel_id, channel_name, channel_url, display_name, instance_domain, videos_count
                FROM channels
                WHERE instance_domain IN (\(Array(repeating: "?", count: hosts.count).joined(separator: ",")))
                  AND channel_name IS NOT NULL AND (\(condition))
                ORDER BY instance_domain, channel_id \(limit > 0 ? "LIMIT \(limit)" : "")
                """, arguments: StatementArguments(hosts)).map(Self.channel)
        }
    }

    private static func channel(_ row: Row) -> ChannelRecord {
        ChannelRecord(channelID: row["channel_id"], channelName: row["channel_name"], channelURL: row["channel_url"],
                      displayName: row["display_name"], instanceDomain: row["instance_domain"],
                      videosCount: row["videos_count"], followersCount: nil, avatarURL: nil)
    }

    func setVideosCount(_ channel: ChannelRecord, count: Int64) throws {
        try db.write { db in
            try db.execute(sql: """
                UPDATE channels SET videos_count = ?, last_error = NULL, last_error_at = NULL, last_error_source = NULL
                WHERE channel_id = ? AND instance_domain = ?
                """, arguments: [count, channel.channelID, channel.instanceDomain])
        }
    }

    func markChannel(_ channel: ChannelRecord, error: FetchError, source: String) throws {
        let now = Self.nowMs()
        try db.write { db in
            try db.execute(sql: """
                UPDATE channels SET health_status = 'error', health_checked_at = ?, health_error = ?,
                    last_error = ?, last_error_at = ?, last_error_source = ?
                WHERE channel_id = ? AND instance_domain = ?
                """, arguments: [now, error.label, error.description, now, source, channel.channelID, channel.instanceDomain])
        }
    }

    // MARK: videos

    func existingVideoIDs(host: String, among ids: [String]) throws -> Set<String> {
        try Self.videoIDs(in: db, host: host, among: ids)
    }

    static func videoIDs(in reader: some DatabaseReader, host: String, among ids: [String]) throws -> Set<String> {
        try reader.read { try $0.existingValues(ids, of: "video_id", in: "videos", where: "instance_domain", is: host) }
    }

    /// Stores a page of videos and the channel's progress in one transaction.
    func storeVideos(_ videos: [VideoRecord], channel: ChannelRecord, nextStart: Int) throws {
        defer { try? FaultPlan.reach(.crawlPage) }
        try db.write { db in
            try Self.upsert(videos, db: db)
            try setProgress(db, .videos,
                            key: [channel.instanceDomain, channel.channelID], status: "in_progress", nextStart: nextStart)
        }
    }

    /// A video found gone upstream, and why (`not_found`, `channel_not_found`).
    typealias GoneVideo = (videoID: String, host: String, reason: String)

    /// A refresh's readings in one transaction: re-read videos, and videos found gone upstream.
    func storeRefreshed(_ videos: [VideoRecord], gone: [GoneVideo], at now: Int64) throws {
        try db.write { db in
            try Self.upsert(videos, db: db)
            try db.execute(sql: Schema.goneVideosTable)
            let insert = try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO gone_videos(video_id, instance_domain, reason, detected_at) VALUES (?, ?, ?, ?)
                """)
            for item in gone { try insert.execute(arguments: [item.videoID, item.host, item.reason, now]) }
        }
    }

    /// A channel gone upstream: every video `existing` (prod) holds of it, recorded as gone. Returns how many.
    /// Records the videos `existing` holds of `channel` that its complete listing (`listed`) left out,
    /// in staging's `listing_missing`; returns how many. They are re-read first by the refresh: a
    /// listing can skip a video while another is deleted between its pages, so only their details'
    /// 404 removes them.
    func storeMissingFromListing(_ channel: ChannelRecord, listed: Set<String>, videosIn existing: some DatabaseReader, at now: Int64) throws -> Int {
        let known = try existing.read { db in
            try String.fetchAll(db, sql: "SELECT video_id FROM videos WHERE channel_id = ? AND instance_domain = ? AND invalid_reason IS NULL",
                                arguments: [channel.channelID, channel.instanceDomain])
        }
        let missing = known.filter { !listed.contains($0) }
        guard !missing.isEmpty else { return 0 }
        try db.write { db in
            try db.execute(sql: Schema.listingMissingTable)
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO listing_missing(video_id, instance_domain, channel_id, detected_at) VALUES (?, ?, ?, ?)
                """)
            for id in missing { try insert.execute(arguments: [id, channel.instanceDomain, channel.channelID, now]) }
        }
        return missing.count
    }

    /// What `storeMissingFromListing` recorded this run.
    func missingFromListings() throws -> [(videoID: String, host: String)] {
        try db.read { db in
            guard try db.hasTable("listing_missing") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT video_id, instance_domain FROM listing_missing ORDER BY instance_domain, video_id")
                .map { ($0[0], $0[1]) }
        }
    }

    /// Records channels `host`'s listing named this run (`listed_channels`); with `complete`, that its
    /// listing was read from the first page to the end.
    func recordListedChannels(_ ids: [String], host: String, complete: Bool) throws {
        try db.write { db in
            try db.execute(sql: Schema.channelListingTables)
            let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO listed_channels(instance_domain, channel_id) VALUES (?, ?)")
            for id in ids { try insert.execute(arguments: [host, id]) }
            if complete {
                try db.execute(sql: "INSERT OR REPLACE INTO complete_channel_listings(instance_domain, listed_at) VALUES (?, ?)",
                               arguments: [host, Self.nowMs()])
            }
        }
    }

    /// Whether `channel`'s host listing was read to its end this run, and whether it named `channel`.
    func listing(of channel: ChannelRecord) throws -> (complete: Bool, listed: Bool) {
        try db.read { db in
            guard try db.hasTable("complete_channel_listings") else { return (false, false) }
            let complete = try Bool.fetchOne(db, sql: "SELECT 1 FROM complete_channel_listings WHERE instance_domain = ?",
                                             arguments: [channel.instanceDomain]) ?? false
            let listed = try Bool.fetchOne(db, sql: "SELECT 1 FROM listed_channels WHERE instance_domain = ? AND channel_id = ?",
                                           arguments: [channel.instanceDomain, channel.channelID]) ?? false
            return (complete, listed)
        }
    }

    func storeGoneChannel(_ channel: ChannelRecord, videosIn existing: some DatabaseReader, at now: Int64) throws -> Int {
        let ids = try existing.read { db in
            try String.fetchAll(db, sql: "SELECT video_id FROM videos WHERE channel_id = ? AND instance_domain = ?",
                                arguments: [channel.channelID, channel.instanceDomain])
        }
        try storeRefreshed([], gone: ids.map { ($0, channel.instanceDomain, "channel_not_found") }, at: now)
        return ids.count
    }

    private static func upsert(_ videos: [VideoRecord], db: Database) throws {
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO videos(video_id, video_uuid, video_numeric_id, instance_domain, channel_id, channel_name,
                channel_url, account_name, account_url, title, description, tags_json, category, published_at,
                video_url, duration, thumbnail_url, embed_path, views, likes, dislikes, comments_count, nsfw,
                preview_path, last_checked_at, last_error, last_error_at, error_count, invalid_reason, invalid_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(video_id, instance_domain) DO UPDATE SET
                \(videoColumns.map { "\($0) = COALESCE(excluded.\($0), \($0))" }.joined(separator: ",\n    "))
                , last_checked_at = excluded.last_checked_at, last_error = excluded.last_error,
                last_error_at = excluded.last_error_at, error_count = excluded.error_count
            """)
        for v in videos {
            try upsert.execute(arguments: [
                v.videoID, v.videoUUID, v.videoNumericID, v.instanceDomain, v.channelID, v.channelName,
                v.channelURL, v.accountName, v.accountURL, v.title, v.description, v.tagsJSON, v.category, v.publishedAt,
                v.videoURL, v.duration, v.thumbnailURL, v.embedPath, v.views, v.likes, v.dislikes, v.commentsCount, v.nsfw,
                v.previewPath, v.lastCheckedAt, v.lastError, v.lastErrorAt, v.lastError == nil ? 0 : 1,
                v.invalidReason, v.invalidReason == nil ? nil : v.lastErrorAt,
            ])
        }
    }

    /// The crawled columns an upsert refreshes only with non-NULL values.
    static let videoColumns = [
        "video_uuid", "video_numeric_id", "channel_id", "channel_name", "channel_url", "account_name", "account_url",
        "title", "description", "tags_json", "category", "published_at", "video_url", "duration", "thumbnail_url",
        "embed_path", "views", "likes", "dislikes", "comments_count", "nsfw", "preview_path",
    ]
}

/// The progress table of a crawl stage: a row per unit of work (a host's channel list, a channel's
/// videos) with its status and the offset a resumed run continues from.
enum CrawlProgress {
    /// `channel_crawl_progress`, a row per instance.
    case channels
    /// `video_crawl_progress`, a row per channel, with the channel's last error.
    case videos

    var table: String {
        switch self {
        case .channels: "channel_crawl_progress"
        case .videos: "video_crawl_progress"
        }
    }

    var keyColumns: [String] {
        switch self {
        case .channels: ["instance_domain"]
        case .videos: ["instance_domain", "channel_id"]
        }
    }

    var recordsErrors: Bool { self == .videos }
}
