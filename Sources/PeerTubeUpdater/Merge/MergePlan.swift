import GRDB

/// The rules checked against both databases and turned into SQL. Building a plan writes nothing, so
/// every rule is validated before the first row moves: a bad LAST rule leaves prod untouched.
struct MergePlan {
    struct Step {
        var rule: MergeRule
        var sql: String
    }

    var steps: [Step]
    /// Staging lists videos gone upstream (`gone_videos`): they leave prod in the same transaction.
    var removesGoneVideos = false
    /// Staging holds this run's instance health (a refresh): merged by `InstanceHealthMerge`.
    var mergesInstanceHealth = false

    /// Validates `rules` against prod (schema `main`) and staging (attached as `stagingSchema`).
    init(rules: MergeRuleSet, db: Database, stagingSchema: String) throws {
        func fail(_ rule: MergeRule, _ message: String) -> MergeRuleError {
            MergeRuleError(source: rules.source, message: "table \(rule.table): \(message)")
        }
        steps = try rules.rules.map { rule in
            guard rule.table != InstanceHealthMerge.table else {
                throw fail(rule, "the updater merges each instance's health history itself; remove this rule")
            }
            guard try db.hasTable(rule.table, in: "main") else { throw fail(rule, "missing in prod DB") }
            guard try db.hasTable(rule.table, in: stagingSchema) else { throw fail(rule, "missing in staging DB") }
            let prodColumns = try db.columnNames(of: rule.table, in: "main")
            let stagingColumns = Set(try db.columnNames(of: rule.table, in: stagingSchema))
            let shared = prodColumns.filter(stagingColumns.contains)
            for key in rule.keys {
                guard prodColumns.contains(key) else { throw fail(rule, "key column '\(key)' missing in prod DB") }
                guard stagingColumns.contains(key) else { throw fail(rule, "key column '\(key)' missing in staging DB") }
            }
            // ON CONFLICT(keys) is what keeps prod free of duplicate keys, and SQLite accepts it only
            // when the keys are the primary key or a unique index.
            guard try db.hasUniqueConstraint(rule.table, on: rule.keys, in: "main") else {
                throw fail(rule, "keys (\(rule.keys.joined(separator: ", "))) are not the primary key or a unique index in prod DB, so merging could create duplicates")
            }
            let nonKey = shared.filter { !rule.keys.contains($0) }
            let updateColumns: [String]
            switch rule.strategy {
            case .insertOnly:
                updateColumns = []
            case .insertOrReplace:
                updateColumns = nonKey
            case .upsert:
                if let named = rule.updateColumns {
                    for column in named {
                        if rule.keys.contains(column) { throw fail(rule, "update column '\(column)' is a key") }
                        guard nonKey.contains(column) else {
                            throw fail(rule, "update column '\(column)' is not in both prod and staging")
                        }
                    }
                    updateColumns = named
                } else {
                    updateColumns = nonKey
                }
            }
            return Step(rule: rule, sql: Self.sql(rule: rule, columns: shared, updateColumns: updateColumns,
                                                  stagingSchema: stagingSchema, db: db))
        }
        if try db.hasTable("gone_videos", in: stagingSchema) {
            let merged = Set(rules.rules.map(\.table))
            for table in GoneVideos.tables where !merged.contains(table) {
                throw MergeRuleError(source: rules.source, message: "staging lists gone videos, but no rule merges table \(table), so their removal would not be reported")
            }
            removesGoneVideos = true
        }
        mergesInstanceHealth = try db.hasTable(InstanceHealthMerge.table, in: stagingSchema)
    }

    /// `columns`: prod's columns, in prod order, that staging has too (the only ones merged);
    /// `updateColumns`: those an existing prod row takes from staging (none for INSERT_ONLY).
    private static func sql(rule: MergeRule, columns: [String], updateColumns: [String],
                            stagingSchema: String, db: Database) -> String {
        let list = columns.map(\.sqlIdentifier).joined(separator: ", ")
        let keys = rule.keys.map(\.sqlIdentifier).joined(separator: ", ")
        // `WHERE true` keeps SQLite's parser from reading ON CONFLICT as a join constraint.
        var sql = """
            INSERT INTO \(db.qualified(rule.table, in: "main")) (\(list))
            SELECT \(list) FROM \(db.qualified(rule.table, in: stagingSchema)) WHERE true
            ON CONFLICT(\(keys)) DO
            """
        if updateColumns.isEmpty {
            sql += " NOTHING"
        } else {
            let quoted = updateColumns.map(\.sqlIdentifier)
            let assignments = quoted.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
            // Rows already equal to staging's are left alone: `affected` counts real changes only.
            let differs = quoted.map { "\($0) IS NOT excluded.\($0)" }.joined(separator: " OR ")
            sql += " UPDATE SET \(assignments) WHERE \(differs)"
        }
        return sql
    }
}
