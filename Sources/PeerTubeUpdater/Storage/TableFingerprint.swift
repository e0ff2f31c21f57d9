import GRDB

/// A content hash of one table: every row, every value, with its storage class, and rowids where the
/// table has them (ANN ids are `video_embeddings.rowid`, so a changed rowid is a changed table).
///
/// Used to prove "prod unchanged" after a refused or rolled-back merge, and by the smoke and crash
/// checks. FNV-1a 64 is not cryptographic; it only has to notice accidental change.
public struct TableFingerprint: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let table: String
    public let rowCount: Int
    public let hash: UInt64

    public var description: String { "\(table): \(rowCount) rows, hash \(String(hash, radix: 16))" }

    /// - Throws: `DatabaseError` when the table cannot be read.
    public static func of(_ table: String, in db: Database, schema: String? = nil) throws -> TableFingerprint {
        let name = db.qualified(table, in: schema)
        // WITHOUT ROWID tables refuse `rowid`; they are ordered by their primary key instead.
        let hasRowID = (try? db.makeStatement(sql: "SELECT rowid FROM \(name) LIMIT 0")) != nil
        let order = hasRowID ? "rowid"
            : try db.primaryKeyColumns(of: table, in: schema).map(\.sqlIdentifier).joined(separator: ", ")
        let select = hasRowID ? "rowid, *" : "*"
        var hasher = FNV1a64()
        var count = 0
        let rows = try Row.fetchCursor(db, sql: "SELECT \(select) FROM \(name) ORDER BY \(order)")
        while let row = try rows.next() {
            count += 1
            for value in row.databaseValues { hasher.combine(value) }
            hasher.combine(byte: 0x1E)  // row separator
        }
        return TableFingerprint(table: table, rowCount: count, hash: hasher.value)
    }

    /// Fingerprints of every user table of the schema, by name.
    ///
    /// - Throws: `DatabaseError` when the table cannot be read.
    public static func ofAllTables(in db: Database, schema: String? = nil) throws -> [String: TableFingerprint] {
        let master = db.qualified("sqlite_master", in: schema)
        let tables = try String.fetchAll(db, sql: """
            SELECT name FROM \(master) WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name
            """)
        var result: [String: TableFingerprint] = [:]
        for table in tables { result[table] = try of(table, in: db, schema: schema) }
        return result
    }
}

extension FNV1a64 {
    mutating func combine(_ value: DatabaseValue) {
        switch value.storage {
        case .null:
            combine(byte: 0)
        case .int64(let int):
            combine(byte: 1)
            withUnsafeBytes(of: int.littleEndian) { combine(bytes: $0) }
        case .double(let double):
            combine(byte: 2)
            withUnsafeBytes(of: double.bitPattern.littleEndian) { combine(bytes: $0) }
        case .string(let string):
            combine(byte: 3)
            combine(bytes: string.utf8)
        case .blob(let data):
            combine(byte: 4)
            combine(bytes: data)
        }
        combine(byte: 0x1F)  // value separator
    }
}
