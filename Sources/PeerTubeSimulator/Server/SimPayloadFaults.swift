import Foundation
import PeerTubeUpdater

/// How a hostile instance rewrites the items of its JSON answers (`SimFaults.HostFaults.payloadMutation`).
public enum PayloadMutation: String, Sendable, Codable, CaseIterable {
    /// Every number, nested ones included, becomes its decimal text: a tolerant reader copes.
    case numbersAsStrings
    /// Every field of an item gets a value of another type: text becomes a number, a number text,
    /// a boolean text, an object an array, an array an object, null an object.
    case typeSwap
    /// Every field of an item is null.
    case nulls
    /// Every array, the list envelope's `data` included, becomes an object keyed by index.
    case arraysAsObjects
}

/// The payload faults of one answer: mutations, junk nesting and huge descriptions, applied to a JSON
/// body of the simulated API. An item is a list's `data` element, or the whole body of a details answer.
enum SimPayloadFaults {
    /// Past this depth the body is one nested array, which no JSON parser must be made to recurse into.
    static let parsableJunkDepth = 450

    static func apply(_ faults: SimFaults.HostFaults, to body: Data, isVideoDetails: Bool) -> Data {
        if let depth = faults.junkNestingDepth, depth > parsableJunkDepth {
            return Data((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
        }
        guard faults.payloadMutation != nil || faults.junkNestingDepth != nil || faults.hugeDescriptionBytes != nil,
              var json = try? JSONValue.parse(body) else { return body }
        switch faults.payloadMutation {
        case .arraysAsObjects?: json = arraysAsObjects(json)  // the envelope too: `data` stops being a list
        case .numbersAsStrings?: json = mapItems(json, numbersAsStrings)
        case .nulls?: json = mapItems(json) { mapFields($0) { _ in .null } }
        case .typeSwap?: json = mapItems(json) { mapFields($0, swapType) }
        case nil: break
        }
        if let depth = faults.junkNestingDepth { json = mapItems(json) { adding("junk", nested(depth), to: $0) } }
        if isVideoDetails, let bytes = faults.hugeDescriptionBytes {
            json = mapItems(json) { adding("description", .string(String(repeating: "Ω long description. ", count: bytes / 21 + 1)), to: $0) }
        }
        return (try? JSONEncoder().encode(json)) ?? body
    }

    /// Applies `change` to every item: the elements of a list envelope's `data`, else the body itself.
    private static func mapItems(_ json: JSONValue, _ change: (JSONValue) -> JSONValue) -> JSONValue {
        guard case .object(var fields) = json else { return json }
        if case .array(let items)? = fields["data"] {
            fields["data"] = .array(items.map(change))
            return .object(fields)
        }
        return change(json)
    }

    /// Every field of an object item changed by `change` (other items are left alone).
    private static func mapFields(_ item: JSONValue, _ change: (JSONValue) -> JSONValue) -> JSONValue {
        guard case .object(let fields) = item else { return item }
        return .object(fields.mapValues(change))
    }

    private static func numbersAsStrings(_ value: JSONValue) -> JSONValue {
        switch value {
        case .int(let number): .string(String(number))
        case .double(let number): .string(String(number))
        case .array(let items): .array(items.map(numbersAsStrings))
        case .object(let fields): .object(fields.mapValues(numbersAsStrings))
        default: value
        }
    }

    private static func swapType(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string: .int(42)
        case .int, .double: .string("forty-two")
        case .bool: .string("yes")
        case .object: .array([.int(1), .string("two")])
        case .array: .object(["not": .string("a list")])
        case .null: .object([:])
        }
    }

    private static func arraysAsObjects(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items):
            .object(Dictionary(uniqueKeysWithValues: items.enumerated().map { (String($0.offset), arraysAsObjects($0.element)) }))
        case .object(let fields): .object(fields.mapValues(arraysAsObjects))
        default: value
        }
    }

    private static func nested(_ depth: Int) -> JSONValue {
        var value = JSONValue.string("bottom")
        for level in 0..<max(0, depth - 1) { value = level.isMultiple(of: 2) ? .array([value]) : .object(["k": value]) }
        return value
    }

    private static func adding(_ key: String, _ value: JSONValue, to item: JSONValue) -> JSONValue {
        guard case .object(var fields) = item else { return item }
        fields[key] = value
        return .object(fields)
    }
}
