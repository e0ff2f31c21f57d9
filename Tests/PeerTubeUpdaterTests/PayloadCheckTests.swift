import Foundation
import Testing
@testable import PeerTubeUpdater

/// What the crawler refuses from an instance, and why: the reason names the field.
struct PayloadCheckTests {
    static let video: JSONValue = .object([
        "id": .int(7), "uuid": .string("0f1e2d3c-4b5a-4968-a7b6-c5d4e3f2a1b0"), "name": .string("A title"),
        "description": .string("Some text"), "views": .int(12), "nsfw": .bool(false), "publishedAt": .string("2024-05-01T09:00:00.000Z"),
        "channel": .object(["name": .string("c")]), "tags": .array([.string("a")]),
    ])

    static func changing(_ key: String, to value: JSONValue?) -> JSONValue {
        guard case .object(var fields) = video else { return video }
        fields[key] = value
        return .object(fields)
    }

    @Test func aWellFormedVideoPasses() {
        #expect(PayloadCheck.problem(inVideo: Self.video, isDetails: true) == nil)
        // Numbers as decimal text, absent and null optional fields: tolerated.
        #expect(PayloadCheck.problem(inVideo: Self.changing("views", to: .string("12"))) == nil)
        #expect(PayloadCheck.problem(inVideo: Self.changing("description", to: .null)) == nil)
        #expect(PayloadCheck.problem(inVideo: Self.changing("uuid", to: nil)) == nil)
    }

    @Test(arguments: [
        ("views", JSONValue.array([]), "field `views` is a list, expected integer"),
        ("uuid", .int(42), "field `uuid` is a number, expected text"),
        ("id", .string("forty-two"), "field `id` is text, expected integer"),
        ("nsfw", .string("yes"), "field `nsfw` is text, expected boolean"),
        ("channel", .string("c"), "field `channel` is text, expected object"),
        ("name", .string("NUL\u{0}inside"), "field `name` contains a NUL character"),
    ])
    func aWrongFieldIsNamed(_ key: String, _ value: JSONValue, _ reason: String) {
        #expect(PayloadCheck.problem(inVideo: Self.changing(key, to: value)) == reason)
    }

    /// Its own test, not a parameterized case: a case's arguments are printed whole in the test log.
    @Test func aHugeDescriptionIsNamedWithTheLimit() {
        let size = 10 << 20
        let problem = PayloadCheck.problem(inVideo: Self.changing("description", to: .string(String(repeating: "x", count: size))))
        #expect(problem == "field `description` is \(size) bytes long (at most \(PayloadCheck.maxDescriptionBytes) accepted)")
        let justFits = PayloadCheck.problem(inVideo: Self.changing("description", to: .string(String(repeating: "x", count: PayloadCheck.maxDescriptionBytes))))
        #expect(justFits == nil)
    }

    @Test func identifiersAreRequired() {
        guard case .object(var fields) = Self.video else { return }
        fields["id"] = .null
        fields["uuid"] = .null
        #expect(PayloadCheck.problem(inVideo: .object(fields)) == "it has neither `uuid` nor `id`")
        #expect(PayloadCheck.problem(inVideo: .array([])) == "the item is a list, not an object")
        #expect(PayloadCheck.problem(inChannel: .object(["id": .int(1)])) == "field `name` is missing or null")
        #expect(PayloadCheck.problem(inChannel: .object(["id": .string("1"), "name": .string("c"), "host": .string("h.org")])) == nil)
        // Tags are checked on details only, where the crawler reads them.
        #expect(PayloadCheck.problem(inVideo: Self.changing("tags", to: .array([.int(1)]))) == nil)
        #expect(PayloadCheck.problem(inVideo: Self.changing("tags", to: .array([.int(1)])), isDetails: true) == "field `tags` is a list, expected list of text")
    }

    @Test(arguments: [
        ("..", "%2E%2E"), (".", "%2E"), ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd"), ("a%2Fb", "a%252Fb"),
        ("it's \"q\"", "it%27s%20%22q%22"), ("semi;colon?q=1#f", "semi%3Bcolon%3Fq%3D1%23f"), ("plain_name-1.x~", "plain_name-1.x~"),
    ])
    func channelNamesStayOnePathSegment(_ name: String, _ segment: String) {
        #expect(name.urlPathSegment == segment)
    }
}
