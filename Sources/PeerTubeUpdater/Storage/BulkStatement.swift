import GRDB
import GRDBSQLite

/// A prepared statement run once per row of a bulk write (or once per key of a bulk read), its values
/// bound and its columns read through SQLite's C API. GRDB's `execute(arguments:)` builds an argument
/// array per row (boxing every value), and a `Row` makes a `String` of every text column; for the
/// millions of rows of a similarity cache that was most of the work. Values are copied by SQLite
/// when bound (`SQLITE_TRANSIENT`); the statement is reset before each run.
struct BulkStatement {
    private let statement: Statement

    /// - Throws: `DatabaseError` when SQLite refuses the statement.
    init(_ db: Database, sql: String) throws {
        statement = try db.makeStatement(sql: sql)
    }

    /// Binds the row's values by 1-based index, then steps the statement to completion.
    ///
    /// - Throws: `DatabaseError` (with the statement's SQL) when the step fails, e.g. a constraint.
    func run(_ db: Database, _ bind: (Values) -> Void) throws {
        try forEachRow(db, bind) { _ in }
    }

    /// Binds the query's values by 1-based index, then calls `row` with each result row in turn.
    ///
    /// - Throws: `DatabaseError` (with the statement's SQL) when a step fails, or what `row` throws.
    func forEachRow(_ db: Database, _ bind: (Values) -> Void, _ row: (Columns) throws -> Void) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        bind(Values(handle: handle))
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                    sql: statement.sql)
            }
            try row(Columns(handle: handle))
        }
    }

    /// A result row's columns by 0-based index, read in place: a text's bytes are valid until the
    /// next step.
    struct Columns {
        fileprivate let handle: OpaquePointer

        /// The column's UTF-8 bytes (empty for NULL).
        func text(_ index: Int32) -> UnsafeRawBufferPointer {
            guard let bytes = sqlite3_column_text(handle, index) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            return UnsafeRawBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, index)))
        }

        func real(_ index: Int32) -> Double { sqlite3_column_double(handle, index) }

        func integer(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

        func isNull(_ index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }
    }

    /// The row's values, bound in place.
    struct Values {
        fileprivate let handle: OpaquePointer

        func text(_ index: Int32, _ value: String) {
            var value = value
            value.withUTF8 { bytes in
                _ = sqlite3_bind_text(handle, index, UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                                      Self.transient)
            }
        }

        func integer(_ index: Int32, _ value: Int64) { _ = sqlite3_bind_int64(handle, index, value) }

        func real(_ index: Int32, _ value: Double) { _ = sqlite3_bind_double(handle, index, value) }

        private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    }
}

/// An INSERT of several rows' values in one statement, prepared once per row count.
struct MultiRowInsert {
    /// The statement up to `VALUES`.
    let head: String
    let columns: Int
    private var prepared: [Int: BulkStatement] = [:]

    init(_ head: String, columns: Int) {
        self.head = head
        self.columns = columns
    }

    /// The statement inserting `rows` rows (values bound `columns` to a row, row after row).
    ///
    /// - Throws: `DatabaseError` when SQLite refuses the statement.
    mutating func statement(rows: Int, db: Database) throws -> BulkStatement {
        if let statement = prepared[rows] { return statement }
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
        let statement = try BulkStatement(db, sql: "\(head) VALUES \(Array(repeating: row, count: rows).joined(separator: ", "))")
        prepared[rows] = statement
        return statement
    }
}
