import Foundation

/// The text a video is embedded from: non-empty parts joined by newlines —
/// title; description; `tags: a, b`; `category: X`; `channel: Y`; `comments_count: N` (when known).
public struct EmbeddingText: Sendable, Equatable {
    public var title: String?
    public var description: String?
    public var tagsJSON: String?
    public var category: String?
    /// `videos.channel_name`: the channel's display name.
    public var channelName: String?
    public var commentsCount: Int?

    public init(title: String? = nil, description: String? = nil, tagsJSON: String? = nil, category: String? = nil,
                channelName: String? = nil, commentsCount: Int? = nil) {
        self.title = title
        self.description = description
        self.tagsJSON = tagsJSON
        self.category = category
        self.channelName = channelName
        self.commentsCount = commentsCount
    }

    /// The joined text, or nil when there is nothing to embed.
    public var text: String? {
        var parts: [String] = []
        func add(_ value: String?, prefix: String = "") {
            guard let value = value?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return }
            parts.append(prefix + value)
        }
        add(title)
        add(description)
        let tags = Self.tags(from: tagsJSON)
        if !tags.isEmpty { parts.append("tags: " + tags.joined(separator: ", ")) }
        add(category, prefix: "category: ")
        add(channelName, prefix: "channel: ")
        if let commentsCount { parts.append("comments_count: \(commentsCount)") }
        return parts.isEmpty ? nil : parts.joined(separator: "\n")
    }

    /// Tags from `tags_json`: a JSON list gives its non-empty items; a JSON string or number gives
    /// itself; JSON null gives none; text that is not JSON is taken as one tag.
    static func tags(from json: String?) -> [String] {
        guard let json, !json.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        guard let value = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed) else {
            return [json.trimmingCharacters(in: .whitespacesAndNewlines)]
        }
        func scalar(_ item: Any) -> String? {
            switch item {
            case let string as String: return string.trimmingCharacters(in: .whitespacesAndNewlines)
            case let number as NSNumber: return number.stringValue
            default: return nil
            }
        }
        if let list = value as? [Any] { return list.compactMap(scalar).filter { !$0.isEmpty } }
        return [scalar(value)].compactMap { $0 }.filter { !$0.isEmpty }
    }
}
