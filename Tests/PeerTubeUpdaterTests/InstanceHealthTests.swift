import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

/// An instance's health across runs (`InstanceHealth`) and the grace period: one failed scan deletes
/// nothing, an instance unreachable for longer than the grace period loses its videos in the merge,
/// an instance that answers again starts over.
@Suite struct InstanceHealthTests {
    static let day: Int64 = 86_400_000
    static let start: Int64 = 1_800_000_000_000

    /// Prod with two instances of two videos each (with embeddings).
    private func makeProd(_ dir: TempDir) throws -> String {
        let path = dir.path("prod.db")
        try makeDatabase(at: path, prod: true).write { db in
            for host in ["up.example", "down.example"] {
                try insertInstance(host, db)
                try insertChannel("c1", host, db)
                for i in 0..<2 {
                    try VideoRow(id: "\(host)-\(i)", host: host).insert(db)
                    try insertEmbedding("\(host)-\(i)", host, firstValue: Float(i), db)
                }
            }
        }
        return path
    }

    /// One run: staging as the crawl leaves it (each host's health), the stage, then the merge.
    @discardableResult
    private func run(prod: String, dir: TempDir, at now: Int64, health: [String: String?], graceDays: Double = 7) throws -> InstanceHealth.Summary {
        let staging = dir.path("staging-\(now).db")
        try makeDatabase(at: staging, prod: false).write { db in
            for (host, status) in health {
                try db.execute(sql: "INSERT INTO instances(host, health_status, health_error) VALUES (?, ?, ?)",
                               arguments: [host, status, status == "error" ? "timeout" : nil])
            }
        }
        let summary = try InstanceHealth.run(stagingPath: staging, prodPath: prod, now: now, graceDays: graceDays, logger: quietLogger)
        _ = try StagingMerge.run(prodPath: prod, stagingPath: staging, rules: .refresh, logger: quietLogger)
        return summary
    }

    private func history(_ prod: String, _ host: String) throws -> Row? {
        try DatabaseFile.open(prod, role: "test", access: .readOnly).read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM instance_health WHERE host = ?", arguments: [host])
        }
    }

    private func videos(_ prod: String, _ host: String) throws -> (videos: Int, embeddings: Int) {
        try DatabaseFile.open(prod, role: "test", access: .readOnly).read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM videos WHERE instance_domain = ?", arguments: [host]) ?? -1,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM video_embeddings WHERE instance_domain = ?", arguments: [host]) ?? -1)
        }
    }

    @Test("unreachable past the grace period: its videos leave prod in the merge; before it, nothing is deleted")
    func gracePeriod() throws {
        let dir = try TempDir()
        let prod = try makeProd(dir)
        let first = try run(prod: prod, dir: dir, at: Self.start, health: ["up.example": "ok", "down.example": "error"])
        #expect(first.failing == 1 && first.pastGrace.isEmpty && first.goneVideos == 0)
        let down = try #require(try history(prod, "down.example"))
        #expect(down["failing_since"] as Int64? == Self.start && down["consecutive_failures"] as Int == 1 && down["last_error"] as String? == "timeout")
        #expect(try history(prod, "up.example")?["last_ok_at"] as Int64? == Self.start)

        // Still within the grace period after 6 days: nothing deleted, the outage's start kept.
        try run(prod: prod, dir: dir, at: Self.start + 6 * Self.day, health: ["up.example": "ok", "down.example": "error"])
        #expect(try videos(prod, "down.example") == (2, 2))
        #expect(try history(prod, "down.example")?["failing_since"] as Int64? == Self.start)
        #expect(try history(prod, "down.example")?["consecutive_failures"] as Int? == 2)

        // A run in which the instance was not contacted changes nothing of its history.
        try run(prod: prod, dir: dir, at: Self.start + 7 * Self.day, health: ["up.example": "ok", "down.example": nil])
        #expect(try history(prod, "down.example")?["checked_at"] as Int64? == Self.start + 6 * Self.day)

        // Past 7 days: its videos and embeddings leave prod; the other instance's stay.
        let past = try run(prod: prod, dir: dir, at: Self.start + 8 * Self.day, health: ["up.example": "ok", "down.example": "error"])
        #expect(past.pastGrace == ["down.example"] && past.goneVideos == 2)
        #expect(try videos(prod, "down.example") == (0, 0))
        #expect(try videos(prod, "up.example") == (2, 2))
    }

    @Test("an instance that answers again starts over; one failed scan, however late, deletes nothing")
    func answeringAgainResets() throws {
        let dir = try TempDir()
        let prod = try makeProd(dir)
        try run(prod: prod, dir: dir, at: Self.start, health: ["down.example": "error"])
        try run(prod: prod, dir: dir, at: Self.start + 5 * Self.day, health: ["down.example": "ok"])
        let back = try #require(try history(prod, "down.example"))
        #expect(back["failing_since"] as Int64? == nil && back["consecutive_failures"] as Int == 0)
        #expect(back["last_ok_at"] as Int64? == Self.start + 5 * Self.day)
        // Failing again 10 days later: a new outage starts, nothing is deleted.
        let again = try run(prod: prod, dir: dir, at: Self.start + 15 * Self.day, health: ["down.example": "error"])
        #expect(again.goneVideos == 0 && again.pastGrace.isEmpty)
        #expect(try history(prod, "down.example")?["failing_since"] as Int64? == Self.start + 15 * Self.day)
        #expect(try videos(prod, "down.example") == (2, 2))
    }

    @Test("a failing instance is retried on a backoff: a day, then doubling, at most half the grace period")
    func retryCadence() throws {
        #expect((1...5).map { InstanceHealth.retryIntervalDays(consecutiveFailures: $0, graceDays: 7) } == [1, 2, 3.5, 3.5, 3.5])
        #expect(InstanceHealth.retryIntervalDays(consecutiveFailures: 3, graceDays: 30) == 4)
        let dir = try TempDir()
        let prod = try makeProd(dir)
        try DatabaseFile.open(prod, role: "test", access: .readWrite).write { db in
            try db.execute(sql: Schema.instanceHealthTable)
            try db.execute(sql: "INSERT INTO instance_health(host, failing_since, consecutive_failures, checked_at) VALUES ('down.example', ?, 3, ?)",
                           arguments: [Self.start - 5 * Self.day, Self.start - Self.day])
            try db.execute(sql: "INSERT INTO instance_health(host, last_ok_at, consecutive_failures, checked_at) VALUES ('up.example', ?, 0, ?)",
                           arguments: [Self.start - Self.day, Self.start - Self.day])
        }
        let staging = dir.path("staging.db")
        try makeDatabase(at: staging, prod: false).write { db in
            for host in ["up.example", "down.example"] { try insertInstance(host, db) }
        }
        // 3 failed runs: the next try 3.5 days after the last, not 1.
        #expect(try InstanceHealth.deferRetries(stagingPath: staging, prodPath: prod, now: Self.start, graceDays: 7) == ["down.example"])
        let left = try DatabaseFile.open(staging, role: "test", access: .readOnly).read { try String.fetchAll($0, sql: "SELECT host FROM instances") }
        #expect(left == ["up.example"])
        try DatabaseFile.open(staging, role: "test", access: .readWrite).write { try insertInstance("down.example", $0) }
        #expect(try InstanceHealth.deferRetries(stagingPath: staging, prodPath: prod, now: Self.start + 3 * Self.day, graceDays: 7) == [],
                "due again 3.5 days (less the timer's slack) after the last try")
    }

    @Test("a grace period under a day is refused before anything is written; a rules file cannot merge the history")
    func badInput() throws {
        let dir = try TempDir()
        let prod = try makeProd(dir)
        let staging = dir.path("staging.db")
        try makeDatabase(at: staging, prod: false)
        #expect(throws: InstanceHealth.BadGracePeriod(days: 0.5)) {
            try InstanceHealth.run(stagingPath: staging, prodPath: prod, now: Self.start, graceDays: 0.5, logger: quietLogger)
        }
        #expect(try DatabaseFile.open(staging, role: "test", access: .readOnly).read { try !$0.hasTable("instance_health") })
        let rules = try MergeRuleSet.parse(Data(#"{"tables": [{"name": "instance_health", "strategy": "UPSERT", "keys": ["host"]}]}"#.utf8), source: "rules.json")
        #expect(throws: MergeRuleError.self) { try StagingMerge.run(prodPath: prod, stagingPath: staging, rules: rules, logger: quietLogger) }
    }
}
