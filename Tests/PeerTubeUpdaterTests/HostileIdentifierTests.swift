import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

/// Table and column names from rules files and from the databases' own schemas reach SQL text. Each
/// one is quoted (embedded quotes doubled) and each statement prepared alone, so a name can never
/// end a statement and start another; and "prod unchanged" is said only when it was observed.
@Suite struct HostileIdentifierTests {
    static let hostileNames = [
        #"k") VALUES ('z'); DROP TABLE video_embeddings; COMMIT; --"#,
        #"k"" ; DROP TABLE video_embeddings; --"#,
        "k'); DELETE FROM keep; --",
        "sel\"ect",
        "ключ \u{1F600}",
        "[k]",
        "`k`",
    ]

    /// A prod and a staging whose merged table uses the hostile name as its key column and as a plain
    /// column; prod also holds a `video_embeddings` table and a `keep` table that must survive.
    private func fixture(table: String, key: String) throws -> (dir: TempDir, prod: String, staging: String) {
        let dir = try TempDir()
        for (name, rows) in [("prod.db", [("a", "prod-a"), ("b", "prod-b")]), ("staging.db", [("b", "staging-b"), ("c", "staging-c")])] {
            let queue = try DatabaseQueue(path: dir.path(name))
            try queue.write { (db: Database) throws in
                try db.run("CREATE TABLE \(table.sqlIdentifier) (\(key.sqlIdentifier) TEXT PRIMARY KEY, \("v\"al".sqlIdentifier) TEXT)")
                for (k, v) in rows {
                    try db.run("INSERT INTO \(table.sqlIdentifier) VALUES (?, ?)", arguments: [k, v])
                }
                try db.run("CREATE TABLE video_embeddings (video_id TEXT, instance_domain TEXT, embedding BLOB)")
                try db.run("CREATE TABLE keep (x TEXT)")
                try db.run("INSERT INTO keep VALUES ('still here')")
            }
        }
        return (dir, dir.path("prod.db"), dir.path("staging.db"))
    }

    private func rules(table: String, key: String, strategy: String) throws -> MergeRuleSet {
        let json = try JSONSerialization.data(withJSONObject: ["tables": [["name": table, "strategy": strategy, "keys": [key]]]])
        return try MergeRuleSet.parse(json, source: "hostile-rules.json")
    }

    @Test(arguments: hostileNames)
    func hostileKeyColumnMergesAsData(_ name: String) throws {
        for strategy in ["INSERT_ONLY", "UPSERT"] {
            let f = try fixture(table: "t", key: name)
            _ = try StagingMerge.run(prodPath: f.prod, stagingPath: f.staging, rules: try rules(table: "t", key: name, strategy: strategy),
                                     logger: quietLogger)
            let queue = try DatabaseFile.open(f.prod, role: "test DB", access: .readOnly)
            try queue.read { (db: Database) throws in
                #expect(try db.hasTable("video_embeddings"), "\(strategy): video_embeddings survived")
                #expect(try String.fetchAll(db, sql: "SELECT x FROM keep") == ["still here"])
                let rows = try Row.fetchAll(db, sql: "SELECT * FROM t ORDER BY 1").map { [$0[0] as String, $0[1] as String] }
                let b = strategy == "UPSERT" ? "staging-b" : "prod-b"
                #expect(rows == [["a", "prod-a"], ["b", b], ["c", "staging-c"]], "\(strategy): \(rows)")
                #expect(try db.integrityCheck() == ["ok"])
            }
        }
    }

    @Test(arguments: hostileNames)
    func hostileTableNameMergesAsData(_ name: String) throws {
        let f = try fixture(table: name, key: "id")
        let results = try StagingMerge.run(prodPath: f.prod, stagingPath: f.staging,
                                           rules: try rules(table: name, key: "id", strategy: "INSERT_OR_REPLACE"), logger: quietLogger)
        #expect(results.map(\.table) == [name] && results[0].inserted == 1 && results[0].updated == 1)
        try DatabaseFile.open(f.prod, role: "test DB", access: .readOnly).read { (db: Database) throws in
            #expect(try db.hasTable("video_embeddings"))
            #expect(try db.hasTable(name))
            #expect(try db.columnNames(of: name) == ["id", "v\"al"])
            #expect(try db.hasUniqueConstraint(name, on: ["id"]))
            #expect(try db.rowCount(of: name) == 3)
        }
    }

    /// A name that is not a column in both files is refused before anything is written.
    @Test func missingHostileKeyIsRefusedBeforeAnyWrite() throws {
        let f = try fixture(table: "t", key: "id")
        let before = try Data(contentsOf: URL(fileURLWithPath: f.prod))
        #expect(throws: MergeRuleError.self) {
            _ = try StagingMerge.run(prodPath: f.prod, stagingPath: f.staging,
                                     rules: try rules(table: "t", key: Self.hostileNames[0], strategy: "INSERT_ONLY"), logger: quietLogger)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.prod)) == before)
    }

    /// A failure inside the transaction is reported as rolled back only because it was: prod's bytes
    /// and every table are as before.
    @Test func failedMergeSaysRolledBackOnlyWhenItWas() throws {
        let f = try fixture(table: "t", key: "id")
        // Staging's row breaks a NOT NULL that prod has: the statement fails inside the transaction.
        try DatabaseQueue(path: f.prod).write { db in
            try db.run("CREATE TABLE u (id TEXT PRIMARY KEY, n TEXT NOT NULL)")
        }
        try DatabaseQueue(path: f.staging).write { db in
            try db.run("CREATE TABLE u (id TEXT PRIMARY KEY, n TEXT)")
            try db.run("INSERT INTO u VALUES ('x', NULL)")
        }
        let rules = try MergeRuleSet.parse(Data(#"{"tables": [{"name": "t", "strategy": "UPSERT", "keys": ["id"]}, {"name": "u", "strategy": "INSERT_ONLY", "keys": ["id"]}]}"#.utf8),
                                           source: "rules.json")
        let before = try DatabaseFile.open(f.prod, role: "test DB", access: .readOnly).read { try TableFingerprint.ofAllTables(in: $0) }
        do {
            _ = try StagingMerge.run(prodPath: f.prod, stagingPath: f.staging, rules: rules, logger: quietLogger)
            Issue.record("the merge should have failed")
        } catch let failure as MergeFailure {
            #expect(failure.rolledBack && failure.table == "u")
            #expect("\(failure)".hasPrefix("merge rolled back, prod unchanged: table u (INSERT_ONLY)"))
        }
        let after = try DatabaseFile.open(f.prod, role: "test DB", access: .readOnly).read { try TableFingerprint.ofAllTables(in: $0) }
        #expect(after == before)
    }

    @Test func identifiersDoubleTheirQuotes() {
        #expect("plain".sqlIdentifier == #""plain""#)
        #expect(#"a"b"#.sqlIdentifier == #""a""b""#)
        #expect(#"""#.sqlIdentifier == #""""""#)
    }

    /// Text holding two statements is refused whole: the first one does not run either.
    @Test func runRefusesASecondStatement() throws {
        let dir = try TempDir()
        let queue = try DatabaseQueue(path: dir.path("x.db"))
        try queue.write { (db: Database) throws in
            try db.run("CREATE TABLE a (x)")
            #expect(throws: DatabaseError.self) { try db.run("INSERT INTO a VALUES (1); DROP TABLE a") }
            #expect(try db.hasTable("a"))
            #expect(try db.rowCount(of: "a") == 0)
        }
    }
}
