import Foundation

/// How staging rows reach a prod table.
public enum MergeStrategy: String, Sendable, CaseIterable, Codable {
    /// Insert rows whose key prod lacks; never touch an existing prod row.
    case insertOnly = "INSERT_ONLY"
    /// Insert new keys; for existing keys make every shared non-key column equal staging's. Done as
    /// an in-place update, so the row keeps its rowid (ANN ids are `video_embeddings.rowid`), unlike
    /// SQLite's `INSERT OR REPLACE`, which deletes and re-inserts under a new rowid.
    case insertOrReplace = "INSERT_OR_REPLACE"
    /// Insert new keys; for existing keys update `update_columns` (default: every non-key column).
    case upsert = "UPSERT"
}

/// One table's merge rule, as written in `merge_rules.json`.
public struct MergeRule: Sendable, Equatable {
    public var table: String
    public var strategy: MergeStrategy
    public var keys: [String]
    /// For UPSERT only: the columns an existing row takes from staging. nil means all non-key ones.
    public var updateColumns: [String]?

    public init(table: String, strategy: MergeStrategy, keys: [String], updateColumns: [String]? = nil) {
        self.table = table
        self.strategy = strategy
        self.keys = keys
        self.updateColumns = updateColumns
    }
}

/// A rules file that is malformed or that names something that does not exist.
public struct MergeRuleError: Error, CustomStringConvertible, Equatable {
    public var source: String
    public var message: String
    public var description: String { "merge rules \(source): \(message)" }
}

/// The ordered rules of one merge. Rules run in file order, all in one transaction.
public struct MergeRuleSet: Sendable, Equatable {
    public var rules: [MergeRule]
    /// Where the rules came from, for messages: a file path or "built-in".
    public var source: String

    public init(rules: [MergeRule], source: String) {
        self.rules = rules
        self.source = source
    }

    /// The rules shipped with the tool (`merge_rules.json`): INSERT_ONLY for instances, channels and videos,
    /// INSERT_OR_REPLACE for embeddings.
    public static var builtIn: MergeRuleSet {
        // The resource is part of the binary; a parse failure is a packaging bug, not user input.
        try! parse(builtInJSON, source: "built-in merge_rules.json")
    }

    /// The rules of a refresh run (`run --refresh`): new rows as in `builtIn`, and the columns a refresh
    /// re-reads (counts, title, description, tags, NSFW flag, channel and account names, images)
    /// updated on known videos; a re-embedded video's embedding updated in place (its rowid, the
    /// ANN id, stays). Shipped as `refresh_rules.json`.
    public static var refresh: MergeRuleSet {
        try! parse(refreshJSON, source: "built-in refresh_rules.json")
    }

    /// The shipped `refresh_rules.json`, byte for byte.
    public static var refreshJSON: Data { Data(PackageResources.refresh_rules_json) }

    /// The shipped `merge_rules.json`, byte for byte (to write it out for operators and the smoke suite).
    public static var builtInJSON: Data { Data(PackageResources.merge_rules_json) }

    /// Reads a rules file, with errors that name it.
    ///
    /// - Throws: `MergeRuleError` naming the file and the rule when the JSON, a strategy, a key or a field is
    ///   wrong.
    public static func load(from path: String) throws -> MergeRuleSet {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw MergeRuleError(source: path, message: exists ? "file is not readable" : "file not found")
        }
        return try parse(data, source: path)
    }

    /// Parses rules JSON: `{"tables": [rule, …]}` (also `{"rules": […]}` or a bare list), each rule
    /// `{"name": TABLE, "strategy": S, "keys": [..], "update_columns": [..]?}`. Unknown fields are
    /// refused, so a typo (`"update_column"`) cannot silently widen an UPSERT.
    ///
    /// - Throws: `MergeRuleError` naming the file and the rule when the JSON, a strategy, a key or a field is
    ///   wrong.
    public static func parse(_ data: Data, source: String) throws -> MergeRuleSet {
        func fail(_ message: String) -> MergeRuleError { MergeRuleError(source: source, message: message) }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw fail("malformed JSON (\(Self.jsonErrorSummary(error)))")
        }
        let list: [Any]
        if let array = json as? [Any] {
            list = array
        } else if let object = json as? [String: Any], let array = (object["tables"] ?? object["rules"]) as? [Any] {
            list = array
        } else {
            throw fail("expected {\"tables\": [...]} or a list of rules")
        }
        guard !list.isEmpty else { throw fail("no rules") }

        let allowed: Set<String> = ["name", "table", "strategy", "keys", "update_columns", "description"]
        var rules: [MergeRule] = []
        for (index, item) in list.enumerated() {
            let label = "rule #\(index + 1)"
            guard let object = item as? [String: Any] else { throw fail("\(label) is not an object") }
            if let unknown = object.keys.filter({ !allowed.contains($0) }).sorted().first {
                throw fail("\(label): unknown field '\(unknown)'")
            }
            guard let table = (object["name"] ?? object["table"]) as? String,
                  !table.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw fail("\(label): missing table name (\"name\")")
            }
            let named = "\(label) (\(table))"
            guard let strategyText = object["strategy"] as? String else {
                throw fail("\(named): missing \"strategy\"")
            }
            guard let strategy = MergeStrategy(rawValue: strategyText.uppercased()) else {
                let known = MergeStrategy.allCases.map(\.rawValue).joined(separator: ", ")
                throw fail("\(named): unknown strategy '\(strategyText)' (expected one of \(known))")
            }
            let keys = try stringList(object["keys"], field: "keys", in: named, fail: fail)
            guard !keys.isEmpty else { throw fail("\(named): \"keys\" is empty") }
            guard Set(keys).count == keys.count else { throw fail("\(named): \"keys\" lists a column twice") }
            var updateColumns: [String]?
            if object["update_columns"] != nil {
                guard strategy == .upsert else {
                    throw fail("\(named): \"update_columns\" only applies to UPSERT, not \(strategy.rawValue)")
                }
                updateColumns = try stringList(object["update_columns"], field: "update_columns", in: named, fail: fail)
            }
            if rules.contains(where: { $0.table == table }) { throw fail("\(named): table has two rules") }
            rules.append(MergeRule(table: table, strategy: strategy, keys: keys, updateColumns: updateColumns))
        }
        return MergeRuleSet(rules: rules, source: source)
    }

    private static func stringList(_ value: Any?, field: String, in label: String,
                                   fail: (String) -> MergeRuleError) throws -> [String] {
        guard let items = value as? [Any] else { throw fail("\(label): \"\(field)\" must be a list of column names") }
        return try items.map { item in
            guard let name = item as? String, !name.isEmpty else {
                throw fail("\(label): \"\(field)\" must hold non-empty strings")
            }
            return name
        }
    }

    private static func jsonErrorSummary(_ error: Error) -> String {
        let nsError = error as NSError
        return (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
    }
}
