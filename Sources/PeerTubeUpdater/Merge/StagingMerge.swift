import Foundation
import GRDB
import Logging

/// What the merge did to one table.
public struct TableMergeResult: Sendable, Equatable, Codable {
    public var table: String
    public var strategy: MergeStrategy
    public var rowsBefore: Int
    public var rowsAfter: Int
    public var inserted: Int
    public var updated: Int
    /// Rows removed because staging listed them in `gone_videos` (a refresh found them gone upstream).
    public var deleted = 0
    public var durationMs: Int
}

/// A merge that failed. `rolledBack` is what was observed, not assumed: no commit reached prod while
/// the merge ran and no transaction was left open, so prod is as it was before.
public struct MergeFailure: Error, CustomStringConvertible {
    public var table: String
    public var strategy: MergeStrategy?
    public var detail: String
    public var rolledBack: Bool

    public var description: String {
        let place = "table \(table)\(strategy.map { " (\($0.rawValue))" } ?? "")"
        return rolledBack
            ? "merge rolled back, prod unchanged: \(place): \(detail)"
            : "merge failed and prod was NOT rolled back cleanly (a commit happened during the merge): \(place): \(detail)"
    }
}

/// Counts the commits on a connection (commit and rollback notices reach every observer, so it asks
/// for no change events and costs nothing per row).
private final class CommitWatch: TransactionObserver {
    var commits = 0
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { commits += 1 }
    func databaseDidRollback(_ db: Database) {}
}

/// Staging → prod: every rule in ONE `BEGIN IMMEDIATE` transaction, so prod
/// either gets all of staging's rows or none. This is the only code that writes prod's content.
public enum StagingMerge {
    static let stagingAlias = "staging"

    /// - Throws: `StorageError` for an unusable prod or staging file, `MergeRuleError` for a rule that does
    ///   not fit the schemas (before anything is written), `MergeFailure` when the transaction failed and was
    ///   rolled back.
    public static func run(prodPath: String, stagingPath: String, rules: MergeRuleSet,
                           logger: Logger) throws -> [TableMergeResult] {
        let prod = try DatabaseFile.open(prodPath, role: "prod DB", access: .readWrite)
        _ = try DatabaseFile.open(stagingPath, role: "staging DB", access: .readOnly)
        return try prod.withAttached(stagingPath, as: stagingAlias) { db in
            let plan = try MergePlan(rules: rules, db: db, stagingSchema: stagingAlias)
            var results: [TableMergeResult] = []
            var current: MergePlan.Step?
            let watch = CommitWatch()
            db.add(transactionObserver: watch, extent: .observerLifetime)
            defer { db.remove(transactionObserver: watch) }
            do {
                try db.inTransaction(.immediate) {
                    for step in plan.steps {
                        current = step
                        results.append(try apply(step, db: db))
                        try FaultPlan.reach(.mergeTable)
                    }
                    current = nil
                    if plan.mergesInstanceHealth {
                        results.append(try InstanceHealthMerge.apply(db: db, stagingSchema: stagingAlias))
                    }
                    if plan.removesGoneVideos {
                        try GoneVideos.remove(db: db, stagingSchema: stagingAlias, results: &results)
                    }
                    return .commit
                }
            } catch let error as DatabaseError {
                // No current step: the transaction itself could not begin (another writer held prod
                // past the busy timeout).
                throw MergeFailure(table: current?.rule.table ?? (results.isEmpty ? "(begin transaction)" : "instance_health or gone_videos"),
                                   strategy: current?.rule.strategy,
                                   detail: error.message ?? "\(error.resultCode)",
                                   rolledBack: watch.commits == 0 && !db.isInsideTransaction)
            }
            for r in results {
                logger.info("merged table=\(r.table) strategy=\(r.strategy.rawValue) rows_before=\(r.rowsBefore) rows_after=\(r.rowsAfter) affected=\(r.inserted + r.updated + r.deleted) inserted=\(r.inserted) updated=\(r.updated) deleted=\(r.deleted) (\(r.durationMs)ms)")
            }
            return results
        }
    }

    private static func apply(_ step: MergePlan.Step, db: Database) throws -> TableMergeResult {
        let clock = ContinuousClock.now
        let before = try db.rowCount(of: step.rule.table, in: "main")
        try db.run(step.sql)
        let affected = db.changesCount
        let after = try db.rowCount(of: step.rule.table, in: "main")
        return TableMergeResult(table: step.rule.table, strategy: step.rule.strategy,
                                rowsBefore: before, rowsAfter: after, inserted: after - before,
                                updated: affected - (after - before), durationMs: clock.elapsedMilliseconds)
    }

    /// Per rule table: staging rows whose key prod lacks, i.e. the rows a merge would add. Reads only.
    ///
    /// - Throws: `StorageError` for an unusable prod or staging file, `MergeRuleError` for a rule that does
    ///   not fit the schemas (before anything is written), `MergeFailure` when the transaction failed and was
    ///   rolled back.
    public static func newRowCounts(prodPath: String, stagingPath: String,
                                    rules: MergeRuleSet) throws -> [String: Int] {
        let prod = try DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly)
        _ = try DatabaseFile.open(stagingPath, role: "staging DB", access: .readOnly)
        return try prod.withAttached(stagingPath, as: stagingAlias) { db in
            var counts: [String: Int] = [:]
            for rule in rules.rules
            where try db.hasTable(rule.table, in: "main") && db.hasTable(rule.table, in: stagingAlias) {
                counts[rule.table] = try db.newKeyCount(in: rule.table, keys: rule.keys,
                                                        from: stagingAlias, against: "main")
            }
            return counts
        }
    }
}
