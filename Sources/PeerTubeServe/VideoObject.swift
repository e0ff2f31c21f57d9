import Foundation
import PeerTubeUpdater
import GRDB

/// A prod video as `serve` answers it: shaped like PeerTube's own video object (`name`, `uuid`,
/// `publishedAt`, `channel`, `account`, …) where PeerTube has the field, so a PeerTube client reads
/// it as it is; `host` and `popularity` are this service's additions.
public struct VideoObject: Codable, Equatable, Sendable {
    public struct Actor: Codable, Equatable, Sendable {
        public var name: String?
        public var displayName: String?
        public var url: String?
        public var host: String
    }

    public struct Category: Codable, Equatable, Sendable {
        public var label: String
    }

    /// The video id prod keys on (PeerTube's `uuid` for videos crawled from the API).
    public var id: String
    public var uuid: String?
    public var numericId: Int64?
    public var host: String
    public var name: String?
    public var description: String?
    public var tags: [String]
    public var category: Category?
    public var duration: Int?
    public var views: Int?
    public var likes: Int?
    public var dislikes: Int?
    public var comments: Int?
    public var nsfw: Bool
    public var publishedAt: String?
    public var url: String?
    public var thumbnailUrl: String?
    public var previewUrl: String?
    public var embedPath: String?
    public var channel: Actor
    public var account: Actor
    public var popularity: Double?

    /// The prod columns read for a video, in `init(row:)`'s order.
    static let columns = """
        video_id, video_uuid, video_numeric_id, instance_domain, title, description, tags_json, category, duration,
        views, likes, dislikes, comments_count, nsfw, published_at, video_url, thumbnail_url, preview_path,
        embed_path, channel_name, channel_url, account_name, account_url
        """

    /// A row of `columns` (and `popularity`, when prod has that column).
    init(row: Row) {
        id = row["video_id"]
        uuid = row["video_uuid"]
        numericId = row["video_numeric_id"]
        host = row["instance_domain"]
        name = row["title"]
        description = row["description"]
        tags = (row["tags_json"] as String?).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
        category = (row["category"] as String?).map(Category.init(label:))
        duration = row["duration"]
        views = row["views"]
        likes = row["likes"]
        dislikes = row["dislikes"]
        comments = row["comments_count"]
        nsfw = (row["nsfw"] as Int?).map { $0 != 0 } ?? false
        publishedAt = (row["published_at"] as Int64?).map { MillisecondTime.iso8601($0) }
        url = row["video_url"]
        thumbnailUrl = row["thumbnail_url"]
        previewUrl = row["preview_path"]
        embedPath = row["embed_path"]
        channel = Actor(name: row["channel_name"], displayName: nil, url: row["channel_url"], host: host)
        account = Actor(name: row["account_name"], displayName: nil, url: row["account_url"], host: host)
        popularity = row.hasColumn("popularity") ? row["popularity"] : nil
    }
}

/// A neighbour in a `/similar` or `/search/similar` answer: the video and how close it is.
public struct SimilarVideo: Codable, Equatable, Sendable {
    public var rank: Int
    public var score: Double
    public var video: VideoObject
}
