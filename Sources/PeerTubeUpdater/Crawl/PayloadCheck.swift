/// Refuses list items and details objects that no PeerTube version sends: a field the crawler reads
/// with the wrong type, a missing identifier, or text far past PeerTube's own limits (a title is at
/// most 120 characters there, a description 10,000). Absent and null fields are fine, since versions
/// differ; numbers sent as decimal text are fine too. Text with a NUL character is refused as well:
/// PeerTube's PostgreSQL cannot hold one, and SQLite's C interface would cut the text there. The
/// reason names the field, for the host's row.
public enum PayloadCheck {
    /// Ten times PeerTube's limits, in UTF-8 bytes: generous to forks, fatal to a 10 MB description.
    public static let maxNameBytes = 4_000
    public static let maxDescriptionBytes = 400_000

    enum Expected: String {
        case text, integer, boolean, object, list, textList = "list of text", date = "date", image = "image path"

        func accepts(_ value: JSONValue) -> Bool {
            switch (self, value) {
            case (.text, .string), (.boolean, .bool), (.object, .object), (.list, .array): true
            case (.integer, _): value.int != nil
            case (.date, .string), (.image, .string), (.image, .object): true
            case (.date, _): value.int != nil
            case (.textList, .array(let items)): items.allSatisfy { if case .string = $0 { true } else { false } }
            default: false
            }
        }
    }

    /// The items `problem` finds nothing wrong with, and the reasons for the others.
    static func partition(_ items: [JSONValue], _ problem: (JSONValue) -> String?) -> (valid: [JSONValue], refusals: [String]) {
        var valid: [JSONValue] = []
        var refusals: [String] = []
        for item in items {
            if let reason = problem(item) { refusals.append(reason) } else { valid.append(item) }
        }
        return (valid, refusals)
    }

    /// Why a channel of a channel list is refused, or nil.
    public static func problem(inChannel item: JSONValue) -> String? {
        guard case .object = item else { return "the item is \(item.kindName), not an object" }
        return required(item, ["id"], .integer)
            ?? required(item, ["name"], .text)
            ?? first(item, [("host", .text), ("url", .text), ("displayName", .text), ("display_name", .text),
                            ("videosCount", .integer), ("followersCount", .integer), ("avatars", .list),
                            ("avatar", .object), ("ownerAccount", .object), ("account", .object)])
            ?? tooLong(item, ["name", "displayName"], max: maxNameBytes)
            ?? tooLong(item, ["description"], max: maxDescriptionBytes)
    }

    /// Why a video (a list item, or `details` when `isDetails`) is refused, or nil.
    public static func problem(inVideo item: JSONValue, isDetails: Bool = false) -> String? {
        guard case .object = item else { return "the item is \(item.kindName), not an object" }
        if item["uuid"].map({ $0 != .null }) != true && item["id"].map({ $0 != .null }) != true {
            return "it has neither `uuid` nor `id`"
        }
        return first(item, [("uuid", .text), ("id", .integer), ("name", .text), ("description", .text), ("url", .text),
                            ("duration", .integer), ("views", .integer), ("likes", .integer), ("dislikes", .integer),
                            ("comments", .integer), ("publishedAt", .date), ("createdAt", .date), ("nsfw", .boolean),
                            ("channel", .object), ("account", .object), ("embedPath", .text), ("thumbnailPath", .image),
                            ("previewPath", .image)] + (isDetails ? [("tags", .textList)] : []))
            ?? tooLong(item, ["name", "title"], max: maxNameBytes)
            ?? tooLong(item, ["description"], max: maxDescriptionBytes)
    }

    private static func required(_ item: JSONValue, _ keys: [String], _ expected: Expected) -> String? {
        guard let value = item.first(keys[0]) else { return "field `\(keys[0])` is missing or null" }
        return problem(keys[0], value, expected)
    }

    private static func first(_ item: JSONValue, _ fields: [(String, Expected)]) -> String? {
        for (key, expected) in fields {
            guard let value = item[key], value != .null else { continue }
            if let problem = problem(key, value, expected) { return problem }
        }
        return nil
    }

    private static func problem(_ key: String, _ value: JSONValue, _ expected: Expected) -> String? {
        guard expected.accepts(value) else { return "field `\(key)` is \(value.kindName), expected \(expected.rawValue)" }
        if case .string(let text) = value, text.utf8.contains(0) { return "field `\(key)` contains a NUL character" }
        return nil
    }

    private static func tooLong(_ item: JSONValue, _ keys: [String], max: Int) -> String? {
        for key in keys {
            if case .string(let text)? = item[key], text.utf8.count > max {
                return "field `\(key)` is \(text.utf8.count) bytes long (at most \(max) accepted)"
            }
        }
        return nil
    }
}

extension JSONValue {
    /// What a value is, for error messages: "text", "a number", "null", …
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "text"
        case .array: "a list"
        case .object: "an object"
        }
    }
}
