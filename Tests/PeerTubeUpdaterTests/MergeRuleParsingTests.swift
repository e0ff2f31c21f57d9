import Foundation
import Testing
@testable import PeerTubeUpdater

@Suite struct MergeRuleParsingTests {
    @Test func builtInRulesAreTheDesignTable() {
        let rules = MergeRuleSet.builtIn.rules
        #expect(rules == [
            MergeRule(table: "instances", strategy: .insertOnly, keys: ["host"]),
            MergeRule(table: "channels", strategy: .insertOnly, keys: ["channel_id", "instance_domain"]),
            MergeRule(table: "videos", strategy: .insertOnly, keys: ["video_id", "instance_domain"]),
            MergeRule(table: "video_embeddings", strategy: .insertOrReplace, keys: ["video_id", "instance_domain"]),
        ])
    }

    @Test func acceptsABareListAndLowerCaseStrategies() throws {
        let set = try MergeRuleSet.parse(Data(#"[{"table": "videos", "strategy": "upsert", "keys": ["video_id"]}]"#.utf8), source: "t")
        #expect(set.rules == [MergeRule(table: "videos", strategy: .upsert, keys: ["video_id"])])
    }

    @Test(arguments: [
        ("{not json", "malformed JSON"),
        (#"{"tables": []}"#, "no rules"),
        (#"{"tables": {"name": "x"}}"#, "expected {\"tables\": [...]}"),
        (#"[{"strategy": "INSERT_ONLY", "keys": ["a"]}]"#, "missing table name"),
        (#"[{"name": "t", "keys": ["a"]}]"#, "missing \"strategy\""),
        (#"[{"name": "t", "strategy": "MERGE", "keys": ["a"]}]"#, "unknown strategy 'MERGE'"),
        (#"[{"name": "t", "strategy": "INSERT_ONLY", "keys": []}]"#, "\"keys\" is empty"),
        (#"[{"name": "t", "strategy": "INSERT_ONLY", "keys": "a"}]"#, "\"keys\" must be a list"),
        (#"[{"name": "t", "strategy": "INSERT_ONLY", "keys": ["a", "a"]}]"#, "lists a column twice"),
        (#"[{"name": "t", "strategy": "INSERT_ONLY", "keys": ["a"], "update_columns": ["b"]}]"#, "only applies to UPSERT"),
        (#"[{"name": "t", "strategy": "UPSERT", "keys": ["a"], "update_column": ["b"]}]"#, "unknown field 'update_column'"),
        (#"[{"name": "t", "strategy": "INSERT_ONLY", "keys": ["a"]}, {"name": "t", "strategy": "UPSERT", "keys": ["a"]}]"#, "table has two rules"),
    ])
    func badRulesSayWhatIsWrong(json: String, message: String) {
        let error = #expect(throws: MergeRuleError.self) { try MergeRuleSet.parse(Data(json.utf8), source: "rules.json") }
        #expect(error?.description.hasPrefix("merge rules rules.json: ") == true)
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    @Test func aMissingFileIsNamed() {
        #expect(throws: MergeRuleError(source: "/nonexistent/rules.json", message: "file not found")) {
            try MergeRuleSet.load(from: "/nonexistent/rules.json")
        }
    }
}
