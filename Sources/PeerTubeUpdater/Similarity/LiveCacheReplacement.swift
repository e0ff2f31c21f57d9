import Foundation
import GRDB

/// Replacing a whole similarity cache (a first build over an earlier format, `--reset`) while a
/// reader may have it open.
///
/// A WAL database must never be renamed over while a connection holds it: the old file's readers
/// and the new file would share the `-wal` and `-shm` files by name, and the last old reader to close
/// would delete the new file's WAL (SQLite's "How To Corrupt", §2.4). So before the side file is
/// renamed over the live cache, the live cache is switched out of WAL mode, which SQLite only allows
/// when no other connection has it open; then nothing shares its sidecar files. When a reader (`serve`)
/// holds it, the new lists are committed into the live file instead, in one transaction: readers keep
/// their snapshot until the commit, as in an incremental run.
enum LiveCacheReplacement {
    /// Thrown from inside the publisher's write step when the new lists were committed into the live
    /// cache: there is nothing left to rename, and the side file is discarded.
    struct CommittedInPlace: Error {}

    /// True when no other connection has `path` open, and it has left WAL mode (so it can be renamed
    /// over safely); false when another connection holds it.
    ///
    /// - Throws: `StorageError` for a file that is not a database.
    static func releaseForRename(_ path: String) throws -> Bool {
        var config = Configuration()
        config.busyMode = .immediateError
        guard let queue = try? DatabaseQueue(path: path, configuration: config) else {
            throw StorageError.unreadable(role: "similarity cache", path: path)
        }
        defer { try? queue.close() }
        let mode = try? queue.writeWithoutTransaction { try String.fetchOne($0, sql: "PRAGMA journal_mode = DELETE") }
        return mode?.lowercased() == "delete"
    }

    /// Replaces the tables of the live cache at `live` by those of `side`, in one transaction.
    ///
    /// - Throws: `StorageError`, `DatabaseError`; the live cache is then unchanged.
    static func commit(from side: String, into live: String) throws {
        let cache = try DatabaseFile.open(live, role: "similarity cache", access: .readWrite)
        try cache.withAttached(side, as: "side") { db in
            try db.execute(sql: "PRAGMA main.journal_mode = WAL")
            try db.inTransaction(.immediate) {
                for table in ["similarity_items", "similarity_sources", "similarity_inputs"] {
                    try db.run("DROP TABLE IF EXISTS main.\(table.sqlIdentifier)")
                }
                try db.execute(sql: Schema.similarityCache)
                for table in ["similarity_items", "similarity_sources", "similarity_inputs"] where try db.hasTable(table, in: "side") {
                    try db.run("INSERT INTO main.\(table.sqlIdentifier) SELECT * FROM side.\(table.sqlIdentifier)")
                }
                return .commit
            }
        }
    }
}
