import GRDB

/// The one SQL helper layer. Every stage, the smoke checks and the benchmarks count, compare and
/// introspect tables through these functions; none writes its own twin.
///
/// `schema` is an SQLite schema name: nil or "main" for the connection's own file, or the alias of an
/// attached one ("staging", "prod").
extension Database {
    /// `"schema"."table"`, quoted for SQL.
    public func qualified(_ table: String, in schema: String? = nil) -> String {
        guard let schema else { return table.quotedDatabaseIdentifier }
        return "\(schema.quotedDatabaseIdentifier).\(table.quotedDatabaseIdentifier)"
    }

    /// Number of rows of a table.
    public func rowCount(of table: String, in schema: String? = nil) throws -> Int {
        try Int.fetchOne(self, sql: "SELECT count(*) FROM \(qualified(table, in: schema))") ?? 0
    }

    /// Row counts of the tables that exist among `tables`; missing ones are left out.
    public func rowCounts(of tables: [String], in schema: String? = nil) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in tables where try tableExists(table, in: schema) {
            counts[table] = try rowCount(of: table, in: schema)
        }
        return counts
    }

    /// Column names of a table, in table order.
    public func columnNames(of table: String, in schema: String? = nil) throws -> [String] {
        try columns(in: table, in: schema).map(\.name)
    }

    /// Columns of `table` in `schema`, in its order, that the same table in `other` has too.
    public func sharedColumns(of table: String, in schema: String, and other: String) throws -> [String] {
        let theirs = Set(try columnNames(of: table, in: other))
        return try columnNames(of: table, in: schema).filter(theirs.contains)
    }

    /// Copies the rows of `table` from schema `source` into schema `target` (the columns both have;
    /// rows whose key `target` already holds are kept as they are). `filter` is an SQL condition on
    /// the source rows. Returns the rows inserted.
    @discardableResult
    public func copyRows(of table: String, from source: String, into target: String,
                         where filter: String = "true", arguments: StatementArguments = []) throws -> Int {
        let list = try sharedColumns(of: table, in: target, and: source).map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        try execute(sql: """
            INSERT OR IGNORE INTO \(qualified(table, in: target))(\(list))
            SELECT \(list) FROM \(qualified(table, in: source)) WHERE \(filter)
            """, arguments: arguments)
        return changesCount
    }

    /// True when `keys` (as a set) are exactly the primary key or a unique index of the table, which
    /// is what SQLite requires of an `ON CONFLICT(keys)` target.
    public func hasUniqueConstraint(_ table: String, on keys: [String], in schema: String? = nil) throws -> Bool {
        let wanted = Set(keys.map { $0.lowercased() })
        if Set(try primaryKey(table, in: schema).columns.map { $0.lowercased() }) == wanted { return true }
        return try indexes(on: table, in: schema).contains { index in
            index.isUnique && Set(index.columns.map { $0.lowercased() }) == wanted
        }
    }

    /// Number of key values that occur in more than one row (0 when the key is really unique).
    public func duplicateKeyGroups(in table: String, keys: [String], schema: String? = nil) throws -> Int {
        let keyList = keys.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        return try Int.fetchOne(self, sql: """
            SELECT count(*) FROM (
                SELECT 1 FROM \(qualified(table, in: schema)) GROUP BY \(keyList) HAVING count(*) > 1
            )
            """) ?? 0
    }

    /// Rows of `table` in schema `from` whose key is absent from the same table in schema `against`:
    /// the rows a merge would add.
    public func newKeyCount(in table: String, keys: [String], from: String, against: String) throws -> Int {
        let match = keys.map { "a.\($0.quotedDatabaseIdentifier) = s.\($0.quotedDatabaseIdentifier)" }
            .joined(separator: " AND ")
        return try Int.fetchOne(self, sql: """
            SELECT count(*) FROM \(qualified(table, in: from)) AS s
            WHERE NOT EXISTS (SELECT 1 FROM \(qualified(table, in: against)) AS a WHERE \(match))
            """) ?? 0
    }

    /// Which of `values` occur in `column` of `table`, among the rows whose `scopeColumn` is `scope`
    /// (e.g. the video ids of one page already stored for that host).
    public func existingValues(_ values: [String], of column: String, in table: String,
                               where scopeColumn: String, is scope: String) throws -> Set<String> {
        guard !values.isEmpty else { return [] }
        let placeholders = Array(repeating: "?", count: values.count).joined(separator: ",")
        return Set(try String.fetchAll(self, sql: """
            SELECT \(column.quotedDatabaseIdentifier) FROM \(qualified(table))
            WHERE \(scopeColumn.quotedDatabaseIdentifier) = ? AND \(column.quotedDatabaseIdentifier) IN (\(placeholders))
            """, arguments: StatementArguments([scope] + values)))
    }

    /// `PRAGMA integrity_check` messages: `["ok"]` for a sound file.
    public func integrityCheck(in schema: String? = nil) throws -> [String] {
        let pragma = schema.map { "PRAGMA \($0.quotedDatabaseIdentifier).integrity_check" } ?? "PRAGMA integrity_check"
        return try String.fetchAll(self, sql: pragma)
    }
}

extension DatabaseWriter {
    /// Runs `body` with another database file attached under `alias`, outside of any transaction
    /// (SQLite cannot ATTACH inside one), and detaches it on every exit path. `body` opens the
    /// transactions it needs itself.
    public func withAttached<T>(_ path: String, as alias: String, _ body: (Database) throws -> T) throws -> T {
        try withAttached([alias: path], body)
    }

    /// The same with several files, by alias.
    public func withAttached<T>(_ files: [String: String], _ body: (Database) throws -> T) throws -> T {
        try writeWithoutTransaction { db in
            var attached: [String] = []
            defer {
                for alias in attached { try? db.execute(sql: "DETACH DATABASE \(alias.quotedDatabaseIdentifier)") }
            }
            for (alias, path) in files.sorted(by: { $0.key < $1.key }) {
                try db.execute(sql: "ATTACH DATABASE ? AS \(alias.quotedDatabaseIdentifier)", arguments: [path])
                attached.append(alias)
            }
            return try body(db)
        }
    }
}
