import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

/// The rules of a refresh: which known videos are due (age tiers, per-host budget), what the merge
/// does with re-read and gone videos, and which texts are embedded again.
@Suite struct RefreshTests {
    static let day: Int64 = 86_400_000
    static let now: Int64 = 1_800_000_000_000

    /// A prod video published `ageDays` ago and last read `checkedDaysAgo` ago.
    static func insert(_ id: String, _ host: String, ageDays: Double, checkedDaysAgo: Double, invalid: Bool = false,
                       _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO videos(video_id, instance_domain, channel_id, channel_url, title, published_at, last_checked_at, invalid_reason)
            VALUES (?, ?, 'c1', 'https://x/c/c1', 'T', ?, ?, ?)
            """, arguments: [id, host, now - Int64(ageDays * Double(day)), now - Int64(checkedDaysAgo * Double(day)),
                             invalid ? "not_found" : nil])
    }

    @Test func cadenceFollowsTheAgeTiersAndTheBudgetCapsEachHost() throws {
        let dir = try TempDir()
        let prod = try makeDatabase(at: dir.path("prod.db"), prod: true)
        try prod.write { db in
            try Self.insert("fresh-due", "a.example", ageDays: 2, checkedDaysAgo: 1.5, db)       // tier 1 d: due
            try Self.insert("fresh-recent", "a.example", ageDays: 2, checkedDaysAgo: 0.5, db)    // not yet
            try Self.insert("month-due", "a.example", ageDays: 20, checkedDaysAgo: 4, db)        // tier 3 d: due
            try Self.insert("month-recent", "a.example", ageDays: 20, checkedDaysAgo: 2, db)     // not yet
            try Self.insert("year-recent", "a.example", ageDays: 200, checkedDaysAgo: 10, db)    // tier 14 d: not yet
            try Self.insert("old-due", "a.example", ageDays: 2_000, checkedDaysAgo: 61, db)      // tier 60 d: due
            try Self.insert("old-recent", "a.example", ageDays: 2_000, checkedDaysAgo: 50, db)   // not yet
            try Self.insert("gone", "a.example", ageDays: 2, checkedDaysAgo: 30, invalid: true, db)
            for i in 0..<5 { try Self.insert("b\(i)", "b.example", ageDays: 3, checkedDaysAgo: 2 + Double(i), db) }
            try Self.insert("other-host", "c.example", ageDays: 3, checkedDaysAgo: 5, db)
        }
        let plan = try prod.read { try RefreshPlan.make($0, hosts: ["a.example", "b.example"], now: Self.now, options: .init(perHostBudget: 3)) }
        let byHost = Dictionary(grouping: plan.targets, by: \.host).mapValues { $0.map(\.videoID) }
        // Most overdue first (overdue = time since the last reading ÷ the tier's interval).
        #expect(byHost["a.example"] == ["fresh-due", "month-due", "old-due"])
        #expect(byHost["b.example"] == ["b4", "b3", "b2"], "budget 3 of 5 due, the most overdue")
        #expect(plan.dueByHost == ["a.example": 3, "b.example": 5])
        #expect(byHost["c.example"] == nil, "a host this run does not crawl is never asked")
        #expect(plan.targets.allSatisfy { $0.channel.channelID == "c1" && $0.channel.displayName == nil })
        // Hosts interleave: each host's first target before any host's second.
        #expect(plan.targets.prefix(2).map(\.host).sorted() == ["a.example", "b.example"])
    }

    /// Requests a day for a 100,000-video instance with the default tiers and budget, ages spread
    /// evenly over 5 years: what the budget allows and how long the oldest tier waits.
    @Test func aLargeInstanceCostsAtMostTheBudgetPerDay() throws {
        let dir = try TempDir()
        let prod = try makeDatabase(at: dir.path("prod.db"), prod: true)
        try prod.write { db in
            let insert = try db.makeStatement(sql: """
                INSERT INTO videos(video_id, instance_domain, channel_id, published_at, last_checked_at) VALUES (?, 'big.example', 'c1', ?, ?)
                """)
            for i in 0..<100_000 {
                let published = Self.now - Int64(Double(i) / 100_000 * 5 * 365 * Double(Self.day))
                try insert.execute(arguments: ["v\(i)", published, published])  // never re-read since first seen
            }
        }
        let plan = try prod.read { try RefreshPlan.make($0, hosts: ["big.example"], now: Self.now) }
        #expect(plan.targets.count == RefreshPlan.Options().perHostBudget)
        #expect(plan.dueByHost["big.example"]! > 90_000)
    }

    // MARK: - Merge

    @Test func goneVideosLeaveProdInTheMergeTransaction() throws {
        let fixture = try MergeFixture()
        try DatabaseFile.open(fixture.staging, role: "test", access: .readWrite).write { db in
            try db.execute(sql: Schema.goneVideosTable)
            try db.execute(sql: "INSERT INTO gone_videos VALUES ('v1', 'a.example', 'not_found', 1), ('nope', 'a.example', 'not_found', 1)")
        }
        let results = try fixture.merge(.refresh)
        let videos = try #require(results.first { $0.table == "videos" })
        let embeddings = try #require(results.first { $0.table == "video_embeddings" })
        #expect(videos.deleted == 1 && embeddings.deleted == 1, "a key prod lacks deletes nothing")
        #expect(videos.rowsAfter == 4 && videos.inserted == 2)  // v1 gone, v4 and v5 new
        #expect(try fixture.read("SELECT count(*) FROM videos WHERE video_id = 'v1'") == 0)
        #expect(try fixture.read("SELECT count(*) FROM video_embeddings WHERE video_id = 'v1'") == 0)
        // The refresh rules update the re-read columns of known videos: v2's title.
        #expect(try fixture.read("SELECT title FROM videos WHERE video_id = 'v2'") == "New title")

        // Rules that do not merge both tables cannot report a removal: refused before anything moves.
        let partial = try MergeRuleSet.parse(Data(#"{"tables": [{"name": "videos", "strategy": "UPSERT", "keys": ["video_id", "instance_domain"]}]}"#.utf8), source: "partial.json")
        let again = try MergeFixture()
        try DatabaseFile.open(again.staging, role: "test", access: .readWrite).write { db in
            try db.execute(sql: Schema.goneVideosTable)
            try db.execute(sql: "INSERT INTO gone_videos VALUES ('v1', 'a.example', 'not_found', 1)")
        }
        #expect(throws: MergeRuleError.self) { try again.merge(partial) }
        #expect(try again.read("SELECT count(*) FROM videos WHERE video_id = 'v1'") == 1)
    }

    // MARK: - Embeddings

    /// Only a changed text is embedded again; a new video is embedded as always.
    @Test func onlyChangedTextsAreEmbeddedAgain() throws {
        let fixture = try MergeFixture()  // prod v1, v2 (with embeddings); staging v2 retitled, v4, v5 new
        try DatabaseFile.open(fixture.staging, role: "test", access: .readWrite).write { db in
            try db.execute(sql: "DELETE FROM video_embeddings")
            try VideoRow(id: "v1", host: "a.example").insert(db)  // re-read, same text as prod
        }
        let embedder = try InstalledModel.embedder.get()
        let result = try EmbeddingStage.run(dbPath: fixture.staging, embedder: embedder,
                                            options: .init(unchangedIn: fixture.prod), logger: quietLogger)
        #expect(result.candidates == 4 && result.unchanged == 1 && result.embedded == 3)
        let embedded = try DatabaseFile.open(fixture.staging, role: "test", access: .readOnly).read {
            try String.fetchSet($0, sql: "SELECT video_id FROM video_embeddings")
        }
        #expect(embedded == ["v2", "v4", "v5"])
    }
}
