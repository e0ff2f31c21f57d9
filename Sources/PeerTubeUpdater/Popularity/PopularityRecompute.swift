import Foundation
import GRDB
import Logging

/// Popularity scores of prod videos (the worker's stage after the merge):
/// `(views + w·likes) / (1 + age_days / 30)`, age from `published_at` (ms epoch) to now, a missing
/// or zero `published_at` counting as 3650 days, negative counts clamped to 0.
public enum PopularityRecompute {
    public enum Selection: String, Sendable, CaseIterable {
        /// Rows whose popularity is NULL or 0: the rows a merge just added (and true zeros).
        case incremental
        /// Every row, so old scores decay and all vintages are comparable again.
        case reset
    }

    public static let defaultLikeWeight = 2.0
    static let missingAgeDays = 3650.0
    static let msPerDay = 86_400_000.0

    public struct Result: Sendable, Equatable {
        public var scored: Int
        public var durationMs: Int
    }

    /// Adds the popularity column and index when missing, then scores the selected rows with one
    /// `now` for the whole run, in one transaction.
    ///
    /// - Throws: `StorageError` for an unusable DB, `DatabaseError` when the update fails (rolled back).
    ///
    /// `readSince` (Unix ms): with `.incremental`, also the rows read again at or after it (a refresh's
    /// re-read rows, whose counts may have changed).
    public static func run(dbPath: String, selection: Selection, likeWeight: Double = defaultLikeWeight,
                           now: Date = Date(), readSince: Int64? = nil, logger: Logger) throws -> Result {
        guard likeWeight.isFinite, likeWeight >= 0 else {
            throw PopularityError(message: "like weight must be a finite number >= 0, got \(likeWeight)")
        }
        let queue = try DatabaseFile.open(dbPath, role: "prod DB", access: .readWrite)
        let clock = ContinuousClock.now
        let nowMs = (now.timeIntervalSince1970 * 1000).rounded()
        let scored = try queue.write { db -> Int in
            try DatabaseFile.requireTables(["videos"], in: db, role: "prod DB", path: dbPath)
            try ensureColumn(db)
            let filter = selection == .reset ? ""
                : "WHERE popularity IS NULL OR popularity = 0" + (readSince == nil ? "" : " OR last_checked_at >= :since")
            try db.run("UPDATE videos SET popularity = \(scoreSQL) \(filter)",
                       arguments: ["w": likeWeight, "now": nowMs, "since": readSince ?? 0])
            return db.changesCount
        }
        let result = Result(scored: scored, durationMs: clock.elapsedMilliseconds)
        logger.info("popularity: scored \(scored) rows (\(selection.rawValue), like_weight=\(likeWeight)) in \(result.durationMs)ms")
        return result
    }

    /// Creates `videos.popularity` (REAL NOT NULL DEFAULT 0) and its index when missing.
    ///
    /// - Throws: `StorageError` for an unusable DB, `DatabaseError` when the update fails (rolled back).
    public static func ensureColumn(_ db: Database) throws {
        if try !db.columnNames(of: "videos").contains("popularity") {
            try db.execute(sql: Schema.popularityColumn)
        }
        try db.execute(sql: Schema.popularityIndex)
    }

    /// The formula over one `videos` row, with named arguments `:w` and `:now` (ms). Counts stored as
    /// text by older crawlers are cast, as the original `int(views or 0)` did.
    static let scoreSQL = """
        (max(CAST(coalesce(views, 0) AS INTEGER), 0) + :w * max(CAST(coalesce(likes, 0) AS INTEGER), 0))
        / (1.0 + (CASE WHEN published_at IS NULL OR published_at = 0 THEN \(missingAgeDays)
                       ELSE max(:now - published_at, 0) / \(msPerDay) END) / 30.0)
        """
}

public struct PopularityError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "popularity: \(message)" }
}
