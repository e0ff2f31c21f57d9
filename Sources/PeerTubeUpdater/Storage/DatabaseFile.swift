import Foundation
import GRDB

/// Opens the SQLite files the updater works on, with the checks every stage needs first:
/// the file exists (unless it is to be created), is readable, and really is a SQLite database.
public enum DatabaseFile {
    public enum Access: Sendable {
        /// The file must exist; it may be written.
        case readWrite
        /// The file must exist; nothing is written (SQLite refuses writes).
        case readOnly
        /// The file is created when missing.
        case create
    }

    /// How long a writer waits for another connection's lock (a reader in WAL mode, the API server)
    /// before giving up with SQLITE_BUSY.
    public static let busyTimeout: TimeInterval = 10

    /// Opens `path` as a serial GRDB queue. `role` names the file in errors ("prod DB", "staging DB").
    ///
    /// - Throws: `StorageError` when the file is missing, unreadable, empty or not an SQLite database.
    public static func open(_ path: String, role: String, access: Access) throws -> DatabaseQueue {
        let fm = FileManager.default
        if access != .create {
            guard fm.fileExists(atPath: path) else { throw StorageError.fileNotFound(role: role, path: path) }
            guard fm.isReadableFile(atPath: path) else { throw StorageError.unreadable(role: role, path: path) }
            // SQLite takes an empty file for a new, empty database: say what it is instead.
            if (try? fm.attributesOfItem(atPath: path)[.size] as? Int) == 0 {
                throw StorageError.emptyFile(role: role, path: path)
            }
        }
        var config = Configuration()
        config.readonly = access == .readOnly
        config.busyMode = .timeout(busyTimeout)
        config.foreignKeysEnabled = true
        config.label = role
        do {
            return try openChecked(path, config)
        } catch let error as DatabaseError {
            // A writer killed mid-transaction (rollback-journal mode) leaves a hot journal, which only a
            // read-write connection may roll back; a read-only one is refused. Rolling it back restores
            // the last committed state, as any writer's next open would, then the read-only open works.
            if access == .readOnly, error.resultCode == .SQLITE_READONLY, fm.fileExists(atPath: path + "-journal") {
                var recover = Configuration()
                recover.busyMode = .timeout(busyTimeout)
                if let queue = try? openChecked(path, recover) {
                    try? queue.close()
                    if let queue = try? openChecked(path, config) { return queue }
                }
            }
            throw StorageError.notADatabase(role: role, path: path, detail: error.message ?? "\(error.resultCode)")
        }
    }

    private static func openChecked(_ path: String, _ config: Configuration) throws -> DatabaseQueue {
        let queue = try DatabaseQueue(path: path, configuration: config)
        // SQLite opens lazily: touch the schema now so a corrupt or foreign file fails here, by name.
        _ = try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
        return queue
    }

    /// Deletes a database file together with its `-wal`, `-shm` and `-journal` sidecars. A leftover hot
    /// WAL applied to a new file with the same name is SQLite's documented way to corrupt it.
    ///
    /// - Throws: a file-system error when a file cannot be removed.
    public static func remove(_ path: String) throws {
        let fm = FileManager.default
        for suffix in ["", "-wal", "-shm", "-journal"] where fm.fileExists(atPath: path + suffix) {
            try fm.removeItem(atPath: path + suffix)
        }
    }

    /// Requires every table of `tables` to exist in `db` (in `schema`, when another file is attached
    /// there), naming the first one missing.
    ///
    /// - Throws: a file-system error when a file cannot be removed.
    public static func requireTables(_ tables: [String], in db: Database, schema: String? = nil,
                                     role: String, path: String) throws {
        for table in tables where try !db.hasTable(table, in: schema) {
            throw StorageError.missingTable(role: role, path: path, table: table)
        }
    }
}
