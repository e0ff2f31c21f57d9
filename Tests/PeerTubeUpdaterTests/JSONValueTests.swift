import Foundation
import Testing
@testable import PeerTubeUpdater

/// Tolerant JSON reading: types kept apart (true is not 1), mistyped fields read where sensible.
@Suite struct JSONValueTests {
    @Test func typesAreKeptApartAndReadTolerantly() throws {
        let json = try JSONValue.parse(Data(#"{"t":true,"one":1,"big":12345678901234,"half":1.5,"text":"42","blank":"  ","null":null,"list":[1,"a"],"nested":{"x":false}}"#.utf8))
        #expect(json["t"] == .bool(true) && json["one"] == .int(1) && json["big"]?.int == 12_345_678_901_234)
        #expect(json["half"] == .double(1.5) && json["half"]?.int == nil && json["one"]?.bool == nil)
        #expect(json["text"]?.int == 42 && json["one"]?.string == "1")
        #expect(json["blank"]?.string == nil && json["null"] == .null && json.first("null", "one") == .int(1))
        #expect(json["list"]?.array == [.int(1), .string("a")] && json["nested"]?["x"]?.bool == false)
        #expect(throws: (any Error).self) { try JSONValue.parse(Data(#"{"truncated": [1, 2"#.utf8)) }
    }
}
