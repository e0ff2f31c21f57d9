import GRDB

/// Staging's `instance_health` (this run's readings folded into each instance's history by
/// `InstanceHealth`) into prod, inside the merge transaction: the table is created in prod on its
/// first use, and each host's row takes staging's. Not a rules-file table: the history is the
/// updater's own bookkeeping, and no rule may leave it half updated.
enum InstanceHealthMerge {
    static let table = "instance_health"

    /// - Throws: `DatabaseError`; the caller's transaction then rolls back.
    static func apply(db: Database, stagingSchema: String) throws -> TableMergeResult {
        let clock = ContinuousClock.now
        try db.execute(sql: Schema.instanceHealthTable)  // unqualified CREATE: main, prod
        let before = try db.rowCount(of: table, in: "main")
        let columns = InstanceHealth.columns
        let updated = ["last_ok_at", "failing_since", "consecutive_failures", "checked_at", "last_error"]
        try db.run("""
            INSERT INTO main.instance_health(\(columns)) SELECT \(columns) FROM \(db.qualified(table, in: stagingSchema)) WHERE true
            ON CONFLICT(host) DO UPDATE SET \(updated.map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
            WHERE \(updated.map { "\($0) IS NOT excluded.\($0)" }.joined(separator: " OR "))
            """)
        let affected = db.changesCount
        let after = try db.rowCount(of: table, in: "main")
        return TableMergeResult(table: table, strategy: .upsert, rowsBefore: before, rowsAfter: after, inserted: after - before,
                                updated: affected - (after - before), durationMs: clock.elapsedMilliseconds)
    }
}
