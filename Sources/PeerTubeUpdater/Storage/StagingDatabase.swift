import Foundation
import GRDB

/// The staging DB the crawl writes into before anything reaches prod (the worker's first stage).
public enum StagingDatabase {
    /// What seeding copied from prod.
    public struct SeedSummary: Sendable, Equatable {
        public var instances: Int
        public var channels: Int
        public var seededAtMs: Int64
    }

    /// Deletes the staging file and its sidecars, then creates it afresh with the crawler schema
    /// (which includes `crawl_state`).
    ///
    /// - Throws: `StorageError` for an unusable file, `DatabaseError` when the schema cannot be written.
    public static func recreate(at path: String) throws -> DatabaseQueue {
        try DatabaseFile.remove(path)
        return try openOrCreate(at: path)
    }

    /// Opens staging, creating it and any missing crawler table (for `--resume-staging`).
    ///
    /// WAL with `synchronous = NORMAL`: a committed page survives a killed process (what `--resume`
    /// needs) without an fsync per page; only a power cut may lose the last pages, which the next
    /// crawl fetches again. Prod is never opened this way.
    ///
    /// - Throws: `StorageError` for an unusable file, `DatabaseError` when the schema cannot be written.
    public static func openOrCreate(at path: String) throws -> DatabaseQueue {
        let queue = try DatabaseFile.open(path, role: "staging DB", access: .create)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        try queue.write { db in try db.execute(sql: Schema.crawlerTables) }
        return queue
    }

    /// Copies prod's instance hosts and channels (the columns both sides share) into staging, so the
    /// new-only crawl knows what prod has; records when and from where in `crawl_state`.
    ///
    /// - Throws: `StorageError` for an unusable file, `DatabaseError` when the schema cannot be written.
    public static func seed(_ staging: DatabaseQueue, fromProdAt prodPath: String,
                            now: Date = Date()) throws -> SeedSummary {
        _ = try DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly)  // checks, named errors
        let seededAt = Int64((now.timeIntervalSince1970 * 1000).rounded())
        return try staging.withAttached(prodPath, as: "prod") { db in
            try DatabaseFile.requireTables(["instances", "channels"], in: db, schema: "prod", role: "prod DB", path: prodPath)
            var summary = SeedSummary(instances: 0, channels: 0, seededAtMs: seededAt)
            try db.inTransaction {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO main.instances(host)
                    SELECT host FROM prod.instances WHERE host IS NOT NULL
                    """)
                summary.instances = db.changesCount
                summary.channels = try db.copyRows(of: "channels", from: "prod", into: "main")
                try db.execute(sql: """
                    INSERT OR REPLACE INTO crawl_state(key, value)
                    VALUES ('stage_seeded_at', ?), ('stage_seeded_from', ?)
                    """, arguments: [String(seededAt), prodPath])
                return .commit
            }
            return summary
        }
    }
}

extension StagingDatabase {
    /// `--skip-local-dead`: removes from staging the instances whose prod `health_status` is set and,
    /// trimmed and lower-cased, is not `ok`. Returns the hosts removed.
    ///
    /// - Throws: `StorageError` when staging or prod cannot be opened, `DatabaseError` when the delete fails.
    static func removeLocallyDeadHosts(stagingPath: String, prodPath: String) throws -> [String] {
        let staging = try DatabaseFile.open(stagingPath, role: "staging DB", access: .readWrite)
        return try staging.withAttached(prodPath, as: "prod") { db in
            var dead: [String] = []
            try db.inTransaction {
                dead = try String.fetchAll(db, sql: """
                    SELECT s.host FROM main.instances s JOIN prod.instances p ON p.host = s.host
                    WHERE p.health_status IS NOT NULL AND lower(trim(p.health_status)) <> 'ok'
                    ORDER BY s.host
                    """)
                for host in dead { try db.execute(sql: "DELETE FROM main.instances WHERE host = ?", arguments: [host]) }
                return .commit
            }
            return dead
        }
    }
}
