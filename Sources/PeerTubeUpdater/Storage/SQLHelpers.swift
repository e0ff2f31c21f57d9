import GRDB

/// The one SQL helper layer. Every stage, the smoke checks and the benchmarks count, compare and
/// introspect tables through these functions; none writes its own twin.
///
/// Names that reach SQL text (tables, columns, schemas, read from rules files and from the schemas
/// of the databases themselves) are quoted with `sqlIdentifier`, which doubles embedded quotes;
/// introspection binds names as values (`pragma_table_xinfo(?, ?)`), and statements built from names
/// run one at a time (`run`), so a name can never end a statement and start another.
///
/// `schema` is an SQLite schema name: nil or "main" for the connection's own file, or the alias of an
/// attached one ("staging", "prod").
extension String {
    /// The string as an SQL identifier: in double quotes, embedded double quotes doubled.
    /// (GRDB's `sqlIdentifier` does not double them, so it is never used here.)
    public var sqlIdentifier: String { "\"" + replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}

// MARK: - extension Database

extension Database {
    /// `"schema"."table"`, quoted for SQL.
    public func qualified(_ table: String, in schema: String? = nil) -> String {
        guard let schema else { return table.sqlIdentifier }
        return "\(schema.sqlIdentifier).\(table.sqlIdentifier)"
    }

    /// Runs exactly one SQL statement: text holding a second statement is refused before anything
    /// runs (GRDB's `execute(sql:)` would run them all).
    ///
    /// - Throws: `DatabaseError` when the text is not exactly one statement or the statement fails.
    public func run(_ sql: String, arguments: StatementArguments = []) throws {
        try makeStatement(sql: sql).execute(arguments: arguments)
    }

    /// True when `table` exists in `schema` (nil: any schema of the connection). The name is bound,
    /// never spliced into SQL.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func hasTable(_ table: String, in schema: String? = nil) throws -> Bool {
        try Bool.fetchOne(self, sql: "SELECT count(*) > 0 FROM pragma_table_list WHERE name = ? AND type = 'table' AND (?2 IS NULL OR schema = ?2)",
                          arguments: [table, schema]) ?? false
    }

    /// Number of rows of a table.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func rowCount(of table: String, in schema: String? = nil) throws -> Int {
        try Int.fetchOne(self, sql: "SELECT count(*) FROM \(qualified(table, in: schema))") ?? 0
    }

    /// Row counts of the tables that exist among `tables`; missing ones are left out.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func rowCounts(of tables: [String], in schema: String? = nil) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in tables where try hasTable(table, in: schema) {
            counts[table] = try rowCount(of: table, in: schema)
        }
        return counts
    }

    /// Column names of a table, in table order (generated and hidden columns included).
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func columnNames(of table: String, in schema: String? = nil) throws -> [String] {
        try String.fetchAll(self, sql: "SELECT name FROM pragma_table_xinfo(?, ?) ORDER BY cid",
                            arguments: [table, schema ?? "main"])
    }

    /// The primary key's columns, in key order (empty for a table keyed by rowid alone).
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func primaryKeyColumns(of table: String, in schema: String? = nil) throws -> [String] {
        try String.fetchAll(self, sql: "SELECT name FROM pragma_table_info(?, ?) WHERE pk > 0 ORDER BY pk",
                            arguments: [table, schema ?? "main"])
    }

    /// Columns of `table` in `schema`, in its order, that the same table in `other` has too.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func sharedColumns(of table: String, in schema: String, and other: String) throws -> [String] {
        let theirs = Set(try columnNames(of: table, in: other))
        return try columnNames(of: table, in: schema).filter(theirs.contains)
    }

    /// Copies the rows of `table` from schema `source` into schema `target` (the columns both have;
    /// rows whose key `target` already holds are kept as they are). `filter` is an SQL condition on
    /// the source rows. Returns the rows inserted.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    @discardableResult
    public func copyRows(of table: String, from source: String, into target: String,
                         where filter: String = "true", arguments: StatementArguments = []) throws -> Int {
        let list = try sharedColumns(of: table, in: target, and: source).map(\.sqlIdentifier).joined(separator: ", ")
        try run("""
            INSERT OR IGNORE INTO \(qualified(table, in: target))(\(list))
            SELECT \(list) FROM \(qualified(table, in: source)) WHERE \(filter)
            """, arguments: arguments)
        return changesCount
    }

    /// True when `keys` (as a set) are exactly the primary key or a unique index of the table, which
    /// is what SQLite requires of an `ON CONFLICT(keys)` target.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func hasUniqueConstraint(_ table: String, on keys: [String], in schema: String? = nil) throws -> Bool {
        let wanted = Set(keys.map { $0.lowercased() })
        if Set(try primaryKeyColumns(of: table, in: schema).map { $0.lowercased() }) == wanted { return true }
        let schema = schema ?? "main"
        let unique = try String.fetchAll(self, sql: "SELECT name FROM pragma_index_list(?, ?) WHERE \"unique\" = 1",
                                         arguments: [table, schema])
        return try unique.contains { index in
            let columns = try String.fetchAll(self, sql: "SELECT name FROM pragma_index_info(?, ?) WHERE cid >= 0",
                                              arguments: [index, schema])
            return Set(columns.map { $0.lowercased() }) == wanted
        }
    }

    /// Number of key values that occur in more than one row (0 when the key is really unique).
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func duplicateKeyGroups(in table: String, keys: [String], schema: String? = nil) throws -> Int {
        let keyList = keys.map(\.sqlIdentifier).joined(separator: ", ")
        return try Int.fetchOne(self, sql: """
            SELECT count(*) FROM (
                SELECT 1 FROM \(qualified(table, in: schema)) GROUP BY \(keyList) HAVING count(*) > 1
            )
            """) ?? 0
    }

    /// Rows of `table` in schema `from` whose key is absent from the same table in schema `against`:
    /// the rows a merge would add.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func newKeyCount(in table: String, keys: [String], from: String, against: String) throws -> Int {
        let match = keys.map { "a.\($0.sqlIdentifier) = s.\($0.sqlIdentifier)" }
            .joined(separator: " AND ")
        return try Int.fetchOne(self, sql: """
            SELECT count(*) FROM \(qualified(table, in: from)) AS s
            WHERE NOT EXISTS (SELECT 1 FROM \(qualified(table, in: against)) AS a WHERE \(match))
            """) ?? 0
    }

    /// Which of `values` occur in `column` of `table`, among the rows whose `scopeColumn` is `scope`
    /// (e.g. the video ids of one page already stored for that host).
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func existingValues(_ values: [String], of column: String, in table: String,
                               where scopeColumn: String, is scope: String) throws -> Set<String> {
        guard !values.isEmpty else { return [] }
        let placeholders = Array(repeating: "?", count: values.count).joined(separator: ",")
        return Set(try String.fetchAll(self, sql: """
            SELECT \(column.sqlIdentifier) FROM \(qualified(table))
            WHERE \(scopeColumn.sqlIdentifier) = ? AND \(column.sqlIdentifier) IN (\(placeholders))
            """, arguments: StatementArguments([scope] + values)))
    }

    /// `PRAGMA integrity_check` messages: `["ok"]` for a sound file.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func integrityCheck(in schema: String? = nil) throws -> [String] {
        let pragma = schema.map { "PRAGMA \($0.sqlIdentifier).integrity_check" } ?? "PRAGMA integrity_check"
        return try String.fetchAll(self, sql: pragma)
    }
}

// MARK: - extension DatabaseWriter

extension DatabaseWriter {
    /// Runs `body` with another database file attached under `alias`, outside of any transaction
    /// (SQLite cannot ATTACH inside one), and detaches it on every exit path. `body` opens the
    /// transactions it needs itself.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func withAttached<T>(_ path: String, as alias: String, _ body: (Database) throws -> T) throws -> T {
        try withAttached([alias: path], body)
    }

    /// The same with several files, by alias.
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement (a missing table or schema, a constraint).
    public func withAttached<T>(_ files: [String: String], _ body: (Database) throws -> T) throws -> T {
        try writeWithoutTransaction { db in
            var attached: [String] = []
            defer {
                for alias in attached { try? db.run("DETACH DATABASE \(alias.sqlIdentifier)") }
            }
            for (alias, path) in files.sorted(by: { $0.key < $1.key }) {
                try db.run("ATTACH DATABASE ? AS \(alias.sqlIdentifier)", arguments: [path])
                attached.append(alias)
            }
            return try body(db)
        }
    }
}
