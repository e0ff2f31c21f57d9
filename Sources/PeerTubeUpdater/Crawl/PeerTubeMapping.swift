import Foundation

/// A `channels` row as the crawl writes it.
public struct ChannelRecord: Sendable, Equatable {
    public var channelID: String
    public var channelName: String?
    public var channelURL: String?
    public var displayName: String?
    public var instanceDomain: String
    public var videosCount: Int64?
    public var followersCount: Int64?
    public var avatarURL: String?
}

// MARK: - VideoRecord

/// A `videos` row as the crawl writes it (the crawler-owned columns).
public struct VideoRecord: Sendable, Equatable {
    public var videoID: String
    public var videoUUID: String?
    public var videoNumericID: Int64?
    public var instanceDomain: String
    public var channelID: String
    public var channelName: String?
    public var channelURL: String?
    public var accountName: String?
    public var accountURL: String?
    public var title: String?
    public var description: String?
    public var tagsJSON: String?
    public var category: String?
    public var publishedAt: Int64?
    public var videoURL: String?
    public var duration: Int64?
    public var thumbnailURL: String?
    public var embedPath: String?
    public var views: Int64?
    public var likes: Int64?
    public var dislikes: Int64?
    public var commentsCount: Int64?
    public var nsfw: Int64?
    public var previewPath: String?
    public var lastCheckedAt: Int64
    public var lastError: String?
    public var lastErrorAt: Int64?
    public var invalidReason: String?
}

// MARK: - PeerTubeMapping

/// Maps PeerTube API payloads (any version since 1.x, read tolerantly) to DB rows.
public enum PeerTubeMapping {
    /// The host a channel item lives on: `host`, else its account's, else its URL's.
    public static func channelHost(_ item: JSONValue) -> String? {
        let account = item.first("ownerAccount", "account")
        let candidates = [item["host"]?.string, account?["host"]?.string,
                          item["url"]?.string.flatMap { URLComponents(string: $0)?.host },
                          account?["url"]?.string.flatMap { URLComponents(string: $0)?.host }]
        return candidates.compactMap { $0?.trimmingCharacters(in: .whitespaces).lowercased() }.first { !$0.isEmpty }
    }

    /// A channel of `/api/v1/video-channels` on `host`, served over `scheme`; nil without an id.
    public static func channel(_ item: JSONValue, host: String, scheme: String) -> ChannelRecord? {
        guard let id = item["id"]?.string else { return nil }
        return ChannelRecord(
            channelID: id,
            channelName: item["name"]?.string,
            channelURL: item["url"]?.string,
            displayName: item.first("displayName", "display_name")?.string,
            instanceDomain: host,
            videosCount: item.first("videosCount", "videos_count")?.int,
            followersCount: item.first("followersCount", "followers_count")?.int,
            avatarURL: imageURL(item, host: host, scheme: originScheme(item["url"]?.string, host: host) ?? scheme))
    }

    /// The widest of `avatars[]` (the first wins ties), else the old single `avatar`, as an absolute URL.
    static func imageURL(_ item: JSONValue, host: String, scheme: String) -> String? {
        var best: (width: Int64, path: String)?
        for avatar in item["avatars"]?.array ?? [] {
            guard let path = avatar.first("fileUrl", "url", "path", "staticPath")?.string else { continue }
            let width = avatar["width"]?.int ?? 0
            if best == nil || width > best!.width { best = (width, path) }
        }
        let path = best?.path ?? item["avatar"]?.first("fileUrl", "url", "path", "staticPath")?.string
        return path.flatMap { absolute($0, host: host, scheme: scheme) }
    }

    /// An absolute URL for a path PeerTube gives relative to the host it was fetched from.
    public static func absolute(_ path: String, host: String, scheme: String) -> String? {
        let trimmed = path.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        let lower = trimmed.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") { return trimmed }
        return "\(scheme)://\(host)\(trimmed.hasPrefix("/") ? "" : "/")\(trimmed)"
    }

    /// The id a video is stored under: its UUID, else its numeric id as text.
    public static func videoID(_ item: JSONValue) -> String? {
        item["uuid"]?.string ?? item["id"]?.string
    }

    /// A video from a channel's list item and, when it was fetched, its details (full description,
    /// tags, comment count). `channel` is the crawled DB channel. Relative paths resolve against the
    /// video's canonical origin when it is the crawled host (https on real instances), else against
    /// the scheme that served the page.
    public static func video(list item: JSONValue, details: JSONValue?, channel: ChannelRecord,
                             host: String, scheme: String, now: Int64) -> VideoRecord? {
        guard let id = videoID(item) else { return nil }
        let merged = details ?? item
        let channelJSON = merged["channel"] ?? item["channel"]
        let account = merged["account"] ?? item["account"] ?? channelJSON?["ownerAccount"]
        let videoURL = merged["url"]?.string
        let base = originScheme(videoURL, host: host) ?? scheme
        var tags: String?
        if let details, let list = details["tags"]?.array {
            let strings = list.compactMap { value -> String? in
                if case .string(let text) = value { return text }
                return nil
            }
            tags = String(decoding: try! JSONSerialization.data(withJSONObject: strings, options: [.withoutEscapingSlashes]),
                          as: UTF8.self)
        }
        return VideoRecord(
            videoID: id,
            videoUUID: item["uuid"]?.string,
            videoNumericID: item["id"]?.int,
            instanceDomain: host,
            channelID: channel.channelID,
            channelName: channel.displayName ?? channelJSON?.first("displayName", "display_name")?.string,
            channelURL: channelJSON?["url"]?.string ?? channel.channelURL,
            accountName: account?.first("displayName", "display_name", "name")?.string,
            accountURL: account?["url"]?.string,
            title: merged.first("name", "title")?.string,
            description: merged["description"]?.string ?? item["description"]?.string,
            tagsJSON: tags,
            category: label(merged["category"]),
            publishedAt: timestamp(merged.first("publishedAt", "published_at", "createdAt", "created_at")),
            videoURL: videoURL,
            duration: merged["duration"]?.int,
            thumbnailURL: imagePath(merged, keys: ["thumbnailUrl", "thumbnailPath", "thumbnail_path", "thumbnail"])
                .flatMap { absolute($0, host: host, scheme: base) },
            embedPath: merged.first("embedPath", "embed_path")?.string,
            views: merged.first("views", "views_count")?.int,
            likes: merged.first("likes", "likes_count")?.int,
            dislikes: merged.first("dislikes", "dislikes_count")?.int,
            commentsCount: merged.first("comments", "commentsCount", "comments_count")?.int,
            nsfw: merged["nsfw"]?.bool.map { $0 ? 1 : 0 },
            previewPath: imagePath(merged, keys: ["previewUrl", "previewPath", "preview_path"])
                .flatMap { absolute($0, host: host, scheme: base) },
            lastCheckedAt: now)
    }

    /// The scheme of an object's canonical URL when it lives on `host` (https on real instances,
    /// whatever scheme the crawl used to reach them).
    static func originScheme(_ url: String?, host: String) -> String? {
        guard let components = url.flatMap({ URLComponents(string: $0) }), components.host?.lowercased() == host,
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else { return nil }
        return scheme
    }

    private static func imagePath(_ item: JSONValue, keys: [String]) -> String? {
        for key in keys {
            guard let value = item[key] else { continue }
            if let text = value.string { return text }
            if let path = value.first("url", "path", "staticPath")?.string { return path }
        }
        return nil
    }

    /// A category (or licence, language) label; `{id: null, label: "Unknown"}` means none.
    static func label(_ value: JSONValue?) -> String? {
        guard let value else { return nil }
        if case .object = value {
            if value["id"] == nil || value["id"] == .null { return nil }
            return value.first("label", "name")?.string ?? value["id"]?.string
        }
        return value.string
    }

    /// Milliseconds since the epoch from an ISO-8601 string (with or without fractions) or a number.
    static func timestamp(_ value: JSONValue?) -> Int64? {
        guard let value else { return nil }
        if case .string(let text) = value { return parseISO8601(text) }
        return value.int
    }

    static func parseISO8601(_ text: String) -> Int64? {
        let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        if let date = try? fractional.parse(text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        return nil
    }
}
