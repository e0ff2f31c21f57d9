import GRDB

/// Checks, after the fact, that a merge did what its rules promise (the smoke suite's PASS conditions; see ARCHITECTURE.md).
/// Compares three files: prod before the merge (a snapshot), prod after it, and the staging DB merged.
public struct MergeInvariants: Sendable, Equatable, Codable {
    public var table: String
    public var strategy: MergeStrategy
    /// Key values present in more than one prod row after the merge. Must be 0.
    public var duplicateKeyGroups: Int
    /// Staging rows whose key the before-snapshot lacked: the rows the merge should have added.
    public var expectedNewRows: Int
    /// Row count after minus row count before.
    public var actualNewRows: Int
    /// Rows of the snapshot that are missing after, or whose columns changed where the rule forbids
    /// it (all non-key columns for INSERT_ONLY; those outside `update_columns` for UPSERT).
    public var changedExistingRows: Int
    /// Staging rows whose prod row does not hold staging's values in the columns the rule updates
    /// (INSERT_OR_REPLACE, UPSERT; 0 for INSERT_ONLY).
    public var mismatchedReplacedRows: Int
    /// Staging keys that already existed before the merge.
    public var overlappingKeys: Int

    public var holds: Bool {
        duplicateKeyGroups == 0 && expectedNewRows == actualNewRows && changedExistingRows == 0
            && mismatchedReplacedRows == 0
    }

    /// Checks every rule. `ignoring` names columns per table that other stages may change after the
    /// merge (by default `videos.popularity`, which the popularity stage writes).
    ///
    /// - Throws: `StorageError` for an unusable file, `DatabaseError` when a check query fails.
    public static func check(prodPath: String, beforePath: String, stagingPath: String, rules: MergeRuleSet,
                             ignoring: [String: Set<String>] = ["videos": ["popularity"]]) throws -> [MergeInvariants] {
        let prod = try DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly)
        _ = try DatabaseFile.open(beforePath, role: "before-snapshot DB", access: .readOnly)
        _ = try DatabaseFile.open(stagingPath, role: "staging DB", access: .readOnly)
        return try prod.withAttached(["before": beforePath, "staging": stagingPath]) { db in
            try rules.rules.map { rule in
                try check(rule, db: db, ignored: ignoring[rule.table] ?? [])
            }
        }
    }

    private static func check(_ rule: MergeRule, db: Database, ignored: Set<String>) throws -> MergeInvariants {
        let table = rule.table
        let prodColumns = try db.columnNames(of: table, in: "main")
        let beforeColumns = Set(try db.columnNames(of: table, in: "before"))
        let stagingColumns = Set(try db.columnNames(of: table, in: "staging"))
        let nonKey = prodColumns.filter { !rule.keys.contains($0) && !ignored.contains($0) }
        let updated: [String]
        switch rule.strategy {
        case .insertOnly: updated = []
        case .insertOrReplace: updated = nonKey.filter(stagingColumns.contains)
        case .upsert: updated = rule.updateColumns ?? nonKey.filter(stagingColumns.contains)
        }
        let frozen = nonKey.filter { beforeColumns.contains($0) && !updated.contains($0) }

        func join(_ left: String, _ right: String) -> String {
            rule.keys.map { "\(left).\($0.sqlIdentifier) = \(right).\($0.sqlIdentifier)" }
                .joined(separator: " AND ")
        }
        func differs(_ columns: [String], _ left: String, _ right: String) -> String {
            columns.isEmpty ? "0" : columns.map { "\(left).\($0.sqlIdentifier) IS NOT \(right).\($0.sqlIdentifier)" }
                .joined(separator: " OR ")
        }
        func count(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
        let main = db.qualified(table, in: "main")
        let before = db.qualified(table, in: "before")
        let staging = db.qualified(table, in: "staging")
        let firstKey = rule.keys[0].sqlIdentifier

        let changed = try count("""
            SELECT count(*) FROM \(before) AS b LEFT JOIN \(main) AS a ON \(join("a", "b"))
            WHERE a.\(firstKey) IS NULL OR \(differs(frozen, "a", "b"))
            """)
        let mismatched = updated.isEmpty ? 0 : try count("""
            SELECT count(*) FROM \(staging) AS s LEFT JOIN \(main) AS a ON \(join("a", "s"))
            WHERE a.\(firstKey) IS NULL OR \(differs(updated, "a", "s"))
            """)
        return MergeInvariants(
            table: table, strategy: rule.strategy,
            duplicateKeyGroups: try db.duplicateKeyGroups(in: table, keys: rule.keys, schema: "main"),
            expectedNewRows: try db.newKeyCount(in: table, keys: rule.keys, from: "staging", against: "before"),
            actualNewRows: try db.rowCount(of: table, in: "main") - db.rowCount(of: table, in: "before"),
            changedExistingRows: changed, mismatchedReplacedRows: mismatched,
            overlappingKeys: try count("SELECT count(*) FROM \(staging) AS s JOIN \(before) AS b ON \(join("b", "s"))"))
    }
}
