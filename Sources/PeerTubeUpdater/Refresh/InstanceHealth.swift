import Foundation
import GRDB
import Logging

/// Each instance's health across runs, and the grace period after which an unreachable instance's
/// videos leave prod.
///
/// The crawl marks every instance it contacted this run (`instances.health_status`: `ok` or `error`).
/// This stage folds that into the history prod keeps (`instance_health`: last answer, since when it
/// fails, how many runs in a row), writes the new rows to staging for the merge, and lists the videos
/// of an instance unreachable for longer than the grace period in staging's `gone_videos`
/// (`instance_unreachable`), so the merge removes them with everything else, in its one transaction.
/// An instance that answers again starts over; one failed scan never deletes anything (a grace
/// period is at least a day, so it takes two failed runs a day apart); an instance not contacted this
/// run keeps its history as it is. A failing instance is retried on a backoff (`deferRetries`), not
/// asked again every run.
public enum InstanceHealth {
    public struct Summary: Sendable, Equatable {
        public var answered = 0
        public var failing = 0
        /// Hosts unreachable for longer than the grace period, whose videos were listed as gone.
        public var pastGrace: [String] = []
        public var goneVideos = 0
    }

    /// One instance's row: prod's `instance_health`, and staging's for the merge.
    public struct Record: Sendable, Equatable {
        public var host: String
        public var lastOkAt: Int64?
        /// The first failed run of the current outage; nil while the instance answers.
        public var failingSince: Int64?
        public var consecutiveFailures: Int
        public var checkedAt: Int64
        public var lastError: String?

        /// The history after this run's reading (`error` nil: the instance answered).
        func next(at now: Int64, error: String?) -> Record {
            guard let error else {
                return Record(host: host, lastOkAt: now, failingSince: nil, consecutiveFailures: 0, checkedAt: now, lastError: nil)
            }
            return Record(host: host, lastOkAt: lastOkAt, failingSince: failingSince ?? now,
                          consecutiveFailures: consecutiveFailures + 1, checkedAt: now, lastError: error)
        }

        static func first(_ host: String) -> Record {
            Record(host: host, lastOkAt: nil, failingSince: nil, consecutiveFailures: 0, checkedAt: 0, lastError: nil)
        }
    }

    public struct BadGracePeriod: Error, CustomStringConvertible, Equatable {
        public var days: Double
        public init(days: Double) { self.days = days }
        public var description: String {
            "instance grace period \(days) days: it must be at least 1 day, so that one failed scan never deletes anything"
        }
    }

    static let columns = "host, last_ok_at, failing_since, consecutive_failures, checked_at, last_error"

    // MARK: - Rescan cadence

    /// Days a failing instance waits before it is tried again: one after its first failed run, then
    /// doubling, at most half the grace period, so an outage is seen at least twice within it.
    public static func retryIntervalDays(consecutiveFailures: Int, graceDays: Double) -> Double {
        min(pow(2, Double(max(consecutiveFailures, 1) - 1)), max(1, graceDays / 2))
    }

    /// A daily timer does not fire at exactly 24-hour steps.
    static let timerSlackMs: Int64 = 2 * 3_600_000

    /// Takes out of this run's staging the failing instances not yet due for a retry (by prod's
    /// history), so no crawl stage asks them; their history stays as it is. Returns them.
    ///
    /// - Throws: `StorageError` for an unusable file, `DatabaseError` when staging cannot be written.
    public static func deferRetries(stagingPath: String, prodPath: String, now: Int64, graceDays: Double) throws -> [String] {
        let staging = try DatabaseFile.open(stagingPath, role: "staging DB", access: .readWrite)
        _ = try DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly)
        return try staging.withAttached(prodPath, as: "prod") { db in
            guard try db.hasTable("instance_health", in: "prod") else { return [] }
            var waiting: [String] = []
            try db.inTransaction {
                let failing = try Row.fetchAll(db, sql: """
                    SELECT h.host, h.consecutive_failures, h.checked_at FROM prod.instance_health h
                    JOIN main.instances s ON s.host = h.host WHERE h.failing_since IS NOT NULL ORDER BY h.host
                    """)
                for row in failing {
                    let interval = retryIntervalDays(consecutiveFailures: row["consecutive_failures"], graceDays: graceDays)
                    guard now - (row["checked_at"] as Int64) < Int64(interval * 86_400_000) - timerSlackMs else { continue }
                    waiting.append(row["host"])
                    try db.execute(sql: "DELETE FROM main.instances WHERE host = ?", arguments: [row["host"] as String])
                }
                return .commit
            }
            return waiting
        }
    }

    /// - Throws: `InstanceHealth.BadGracePeriod` for a grace period under a day, `StorageError` for an
    ///   unusable file, `DatabaseError` when staging cannot be written; prod is only read.
    public static func run(stagingPath: String, prodPath: String, now: Int64, graceDays: Double,
                           logger: Logger) throws -> Summary {
        guard graceDays >= 1 else { throw BadGracePeriod(days: graceDays) }
        let staging = try DatabaseFile.open(stagingPath, role: "staging DB", access: .readWrite)
        _ = try DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly)
        let graceMs = Int64(graceDays * 86_400_000)
        return try staging.withAttached(prodPath, as: "prod") { db in
            try db.execute(sql: Schema.instanceHealthTable)
            try db.execute(sql: Schema.goneVideosTable)
            let readings = try Row.fetchAll(db, sql: """
                SELECT host, health_status, health_error, last_error FROM main.instances
                WHERE health_status IN ('ok', 'error') ORDER BY host
                """)
            var history: [String: Record] = [:]
            if try db.hasTable("instance_health", in: "prod") {
                for row in try Row.fetchAll(db, sql: "SELECT \(columns) FROM prod.instance_health") {
                    history[row["host"]] = Record(host: row["host"], lastOkAt: row["last_ok_at"], failingSince: row["failing_since"],
                                                  consecutiveFailures: row["consecutive_failures"], checkedAt: row["checked_at"],
                                                  lastError: row["last_error"])
                }
            }
            var summary = Summary()
            try db.inTransaction {
                for reading in readings {
                    let host: String = reading["host"]
                    let failed = (reading["health_status"] as String) == "error"
                    let error: String? = failed ? ((reading["health_error"] as String?) ?? (reading["last_error"] as String?) ?? "error") : nil
                    let record = (history[host] ?? .first(host)).next(at: now, error: error)
                    try db.execute(sql: """
                        INSERT INTO main.instance_health(\(columns)) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT(host) DO UPDATE SET last_ok_at = excluded.last_ok_at, failing_since = excluded.failing_since,
                            consecutive_failures = excluded.consecutive_failures, checked_at = excluded.checked_at,
                            last_error = excluded.last_error
                        """, arguments: [host, record.lastOkAt, record.failingSince, record.consecutiveFailures, record.checkedAt, record.lastError])
                    guard failed else { summary.answered += 1; continue }
                    summary.failing += 1
                    if let since = record.failingSince, now - since >= graceMs, record.consecutiveFailures >= 2 {
                        summary.pastGrace.append(host)
                        try db.execute(sql: """
                            INSERT OR IGNORE INTO main.gone_videos(video_id, instance_domain, reason, detected_at)
                            SELECT video_id, instance_domain, 'instance_unreachable', ? FROM prod.videos WHERE instance_domain = ?
                            """, arguments: [now, host])
                        summary.goneVideos += db.changesCount
                    }
                }
                return .commit
            }
            let days = graceDays.formatted(.number.precision(.fractionLength(0...1)))
            logger.info("instance health: \(summary.answered) answered, \(summary.failing) failing; \(summary.pastGrace.count) unreachable for over \(days) days, their \(summary.goneVideos) videos to be removed\(summary.pastGrace.isEmpty ? "" : ": " + summary.pastGrace.joined(separator: ", ").escapedForLog)")
            return summary
        }
    }
}
