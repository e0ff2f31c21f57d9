import Foundation

/// A parsed JSON document, read tolerantly: instances of many PeerTube versions send optional,
/// renamed or mistyped fields, so every accessor returns nil instead of throwing on a mismatch.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    // MARK: - Codable

    /// - Throws: a `DecodingError`/`EncodingError` from the coder, or Foundation's parse error for a body
    ///   that is not JSON.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    /// - Throws: a `DecodingError`/`EncodingError` from the coder, or Foundation's parse error for a body
    ///   that is not JSON.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value.isFinite ? value : 0)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    // MARK: - Parsing

    /// Parses with Foundation's JSONSerialization and converts: about 3× cheaper in CPU than a
    /// Codable decode, which dominated the crawler's profile.
    ///
    /// - Throws: a `DecodingError`/`EncodingError` from the coder, or Foundation's parse error for a body
    ///   that is not JSON.
    public static func parse(_ data: Data) throws -> JSONValue {
        try JSONValue(any: JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    /// Deepest nesting of arrays and objects in `data`, strings skipped: why a parser refused a body.
    public static func nestingDepth(of data: Data) -> Int {
        var depth = 0, deepest = 0, inString = false, escaped = false
        for byte in data {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return deepest
    }

    /// JSON parsers (Foundation's included) refuse documents nested deeper than this.
    public static let parserDepthLimit = 512

    /// Why `data` did not parse, in words: `nested 100000 levels deep (parsers stop at 512)` or
    /// `malformed`.
    public static func parseFailure(_ data: Data) -> String {
        let depth = nestingDepth(of: data)
        return depth > parserDepthLimit ? "nested too deep (\(depth) levels; parsers stop at \(parserDepthLimit))" : "malformed"
    }

    init(any value: Any) {
        // Exact-type checks first: a failing `as?` from Any walks the runtime's conformance tables and
        // dominated the crawler's CPU profile.
        let type = ObjectIdentifier(Swift.type(of: value))
        if type == Self.stringType, let text = value as? String {
            self = .string(text)
        } else if type == Self.objectType, let object = value as? [String: Any] {
            self = .object(object.mapValues(JSONValue.init(any:)))
        } else if type == Self.arrayType, let list = value as? [Any] {
            self = .array(list.map(JSONValue.init(any:)))
        } else if let number = value as? NSNumber {
            // JSON true/false come back as boolean NSNumbers (type code "c"); JSON numbers never do.
            let code = number.objCType.pointee
            if code == CChar(UInt8(ascii: "c")) {
                self = .bool(number.boolValue)
            } else if code == CChar(UInt8(ascii: "d")) || code == CChar(UInt8(ascii: "f")) {
                self = .double(number.doubleValue)
            } else {
                self = .int(number.int64Value)
            }
        } else if let text = value as? String {
            self = .string(text)
        } else if let object = value as? [String: Any] {
            self = .object(object.mapValues(JSONValue.init(any:)))
        } else if let list = value as? [Any] {
            self = .array(list.map(JSONValue.init(any:)))
        } else {
            self = .null
        }
    }

    private static let stringType = ObjectIdentifier(String.self)
    private static let objectType = ObjectIdentifier([String: Any].self)
    private static let arrayType = ObjectIdentifier([Any].self)

    // MARK: - Tolerant reading

    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    /// The first of `keys` that is present and not null (PeerTube renamed fields over versions).
    public func first(_ keys: String...) -> JSONValue? {
        for key in keys {
            if let value = self[key], value != .null { return value }
        }
        return nil
    }

    /// The members of an object (nil for any other value).
    public var members: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// A string; numbers are given as their decimal text. Empty or blank strings count as absent.
    public var string: String? {
        switch self {
        case .string(let value): value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : value
        case .int(let value): String(value)
        case .double(let value) where value.rounded() == value && abs(value) < 1e15: String(Int64(value))
        default: nil
        }
    }

    /// An integer; integral doubles and numeric strings are accepted.
    public var int: Int64? {
        switch self {
        case .int(let value): value
        case .double(let value) where value.rounded() == value && abs(value) < 9e15: Int64(value)
        case .string(let text): Int64(text.trimmingCharacters(in: .whitespaces))
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value.isFinite ? value : nil
        case .string(let text): Double(text.trimmingCharacters(in: .whitespaces)).flatMap { $0.isFinite ? $0 : nil }
        default: nil
        }
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }
}
