import Foundation
import PeerTubeUpdater

/// PeerTube's JSON shapes for corpus objects, as served by `host` (field names and types as PeerTube's own API returns them).
struct SimPayloads {
    let corpus: SimCorpus
    let host: String
    let oldVersion: Bool

    func avatars(_ path: String, on origin: String) -> [String: Any] {
        if oldVersion {
            return ["avatar": ["path": path, "createdAt": "2024-01-02T10:00:00.000Z", "updatedAt": "2024-01-02T10:00:00.000Z"]]
        }
        let sizes = [48, 120, 600, 1500]
        return ["avatars": sizes.map { width in
            let sized = path.replacingOccurrences(of: ".webp", with: "-\(width).webp")
            return ["width": width, "height": width, "path": sized, "fileUrl": "https://\(host)\(sized)",
                    "createdAt": "2024-01-02T10:00:00.000Z", "updatedAt": "2024-01-02T10:00:00.000Z"]
        }]
    }

    func account(_ account: SimCorpus.Account, full: Bool) -> [String: Any] {
        var json: [String: Any] = ["id": account.id, "name": account.name, "displayName": account.displayName,
                                   "url": "https://\(account.host)/accounts/\(account.name)", "host": account.host]
        json.merge(avatars("/lazy-static/avatars/account-\(account.id).webp", on: account.host)) { a, _ in a }
        if full {
            json.merge(["description": NSNull(), "banners": [Any](), "followingCount": 0, "followersCount": account.id * 3,
                        "hostRedundancyAllowed": false, "createdAt": MillisecondTime.iso8601(account.createdAt)]) { a, _ in a }
            if account.host == host { json["userId"] = account.id }
        }
        return json
    }

    /// A channel as `/video-channels` lists it (full VideoChannel), with the id it has on `host`.
    func channel(_ channel: SimCorpus.Channel, localID: Int) -> [String: Any] {
        var json: [String: Any] = [
            "id": localID, "url": "https://\(channel.host)/video-channels/\(channel.name)", "name": channel.name,
            "host": channel.host, "banners": [Any](), "hostRedundancyAllowed": false, "followingCount": 0,
            "followersCount": channel.followersCount, "createdAt": MillisecondTime.iso8601(channel.createdAt),
            "displayName": channel.displayName, "description": channel.description ?? NSNull(), "support": NSNull(),
            "isLocal": channel.host == host, "updatedAt": MillisecondTime.iso8601(channel.createdAt + 86_400_000),
            "ownerAccount": account(channel.account, full: true),
        ]
        json.merge(avatars(channel.avatarPath, on: channel.host)) { a, _ in a }
        return json
    }

    func channelSummary(_ channel: SimCorpus.Channel, localID: Int) -> [String: Any] {
        var json: [String: Any] = ["id": localID, "name": channel.name, "displayName": channel.displayName,
                                   "url": "https://\(channel.host)/video-channels/\(channel.name)", "host": channel.host]
        json.merge(avatars(channel.avatarPath, on: channel.host)) { a, _ in a }
        return json
    }

    /// PeerTube's list truncation (lodash `truncate`, 250 characters including the ellipsis).
    static func truncated(_ text: String) -> String {
        text.count <= 250 ? text : String(text.prefix(247)) + "..."
    }

    func video(_ video: SimCorpus.Video, channel: SimCorpus.Channel, channelLocalID: Int, details: Bool) -> [String: Any] {
        let origin = channel.host
        let short = Self.truncated(video.description)
        let languageLabel = CorpusVocabulary.Language(rawValue: video.language)?.label ?? "Unknown"
        var json: [String: Any] = [
            "id": video.id, "uuid": video.uuid, "url": "https://\(origin)/videos/watch/\(video.uuid)", "name": video.name,
            "category": video.category.map { ["id": $0.id, "label": $0.label] as [String: Any] } ?? ["id": NSNull(), "label": "Unknown"],
            "licence": ["id": video.licence.id, "label": video.licence.label],
            "language": ["id": video.language, "label": languageLabel], "privacy": ["id": 1, "label": "Public"],
            "nsfw": video.nsfw, "description": details ? video.description : short, "isLocal": origin == host,
            "duration": video.duration, "views": video.views, "likes": video.likes, "dislikes": video.dislikes,
            "thumbnailPath": "/lazy-static/thumbnails/\(video.uuid).jpg", "previewPath": "/lazy-static/previews/\(video.uuid).jpg",
            "embedPath": "/videos/embed/\(video.uuid)", "createdAt": MillisecondTime.iso8601(video.createdAt),
            "updatedAt": MillisecondTime.iso8601(video.publishedAt + 3_600_000), "publishedAt": MillisecondTime.iso8601(video.publishedAt),
            "originallyPublishedAt": NSNull(), "isLive": false,
            "account": account(channel.account, full: details), "channel": details
                ? self.channel(channel, localID: channelLocalID) : channelSummary(channel, localID: channelLocalID),
        ]
        if !oldVersion {
            json["shortUUID"] = video.shortUUID
            json["truncatedDescription"] = short
            json["comments"] = video.comments
            json["aspectRatio"] = 1.7778
            json["viewers"] = 0
        }
        if details {
            json["tags"] = video.tags
            json["support"] = NSNull()
            json["commentsPolicy"] = ["id": 1, "label": "Enabled"]
            json["commentsEnabled"] = true
            json["downloadEnabled"] = true
            json["waitTranscoding"] = true
            json["state"] = ["id": 1, "label": "Published"]
            json["trackerUrls"] = ["wss://\(origin)/tracker/socket"]
            json["files"] = [Any]()
            json["streamingPlaylists"] = [Any]()
        }
        return json
    }

    func actor(host other: String, name: String = "peertube", id: Int) -> [String: Any] {
        ["id": id, "url": "https://\(other)/accounts/\(name)", "name": name, "host": other, "avatars": [Any](),
         "banners": [Any](), "hostRedundancyAllowed": false, "followersCount": 3, "followingCount": 2,
         "createdAt": "2023-06-01T00:00:00.000Z"]
    }

    func follow(id: Int, follower: [String: Any], following: [String: Any]) -> [String: Any] {
        ["id": id, "state": "accepted", "score": 1000, "createdAt": "2024-01-01T00:00:00.000Z",
         "updatedAt": "2024-01-01T00:00:00.000Z", "follower": follower, "following": following]
    }
}
