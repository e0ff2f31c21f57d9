import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

@Suite struct PopularityTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let nowMs = Int64(1_800_000_000_000)
    static let dayMs = Int64(86_400_000)

    /// (video id, views, likes, published_at) → expected score with w = 2.
    static let cases: [(String, Int?, Int?, Int64?, Double)] = [
        ("published-now", 100, 10, nowMs, 120),
        ("thirty-days-old", 100, 10, nowMs - 30 * dayMs, 60),
        ("ninety-days-old", 30, 0, nowMs - 90 * dayMs, 7.5),
        ("missing-date", 100, 10, nil, 120 / (1 + 3650.0 / 30)),
        ("zero-date", 100, 10, 0, 120 / (1 + 3650.0 / 30)),
        ("negative-counts", -5, -3, nowMs, 0),
        ("null-counts", nil, nil, nowMs, 0),
        ("published-in-future", 100, 10, nowMs + 5 * dayMs, 120),
    ]

    private func prodWithCases() throws -> (TempDir, String) {
        let dir = try TempDir()
        let path = dir.path("prod.db")
        try makeDatabase(at: path, prod: true).write { db in
            for (id, views, likes, published, _) in Self.cases {
                try VideoRow(id: id, host: "a.example", views: views, likes: likes, publishedAt: published).insert(db)
            }
        }
        return (dir, path)
    }

    private func scores(_ path: String) throws -> [String: Double] {
        try DatabaseFile.open(path, role: "test", access: .readOnly).read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT video_id, popularity FROM videos").map {
                ($0["video_id"] as String, $0["popularity"] as Double)
            })
        }
    }

    @Test func scoresFollowTheFormula() throws {
        let (dir, path) = try prodWithCases()
        let result = try PopularityRecompute.run(dbPath: path, selection: .incremental, now: Self.now, logger: quietLogger)
        let got = try scores(path)
        for (id, _, _, _, expected) in Self.cases {
            #expect(abs((got[id] ?? -1) - expected) < 1e-9, "\(id): got \(got[id] ?? -1), expected \(expected)")
        }
        // Rows that score 0 stay 0 and are counted as scored.
        #expect(result.scored == Self.cases.count)
        _ = dir
    }

    @Test func countsStoredAsTextAreCastLikeTheOriginal() throws {
        let (dir, path) = try prodWithCases()
        try DatabaseFile.open(path, role: "test", access: .readWrite).write { db in
            try db.execute(sql: "UPDATE videos SET views = '50', likes = '5' WHERE video_id = 'published-now'")
        }
        _ = try PopularityRecompute.run(dbPath: path, selection: .incremental, now: Self.now, logger: quietLogger)
        #expect(try scores(path)["published-now"] == 60)
        _ = dir
    }

    @Test func incrementalLeavesScoredRowsAloneAndResetRescoresThem() throws {
        let (dir, path) = try prodWithCases()
        try DatabaseFile.open(path, role: "test", access: .readWrite).write { db in
            try db.execute(sql: "UPDATE videos SET popularity = 5 WHERE video_id = 'thirty-days-old'")
        }
        let incremental = try PopularityRecompute.run(dbPath: path, selection: .incremental, now: Self.now, logger: quietLogger)
        #expect(incremental.scored == Self.cases.count - 1)
        #expect(try scores(path)["thirty-days-old"] == 5)
        _ = try PopularityRecompute.run(dbPath: path, selection: .reset, likeWeight: 0.5, now: Self.now, logger: quietLogger)
        #expect(try scores(path)["thirty-days-old"] == (100 + 0.5 * 10) / 2)
        _ = dir
    }

    @Test func addsTheColumnAndIndexWhenMissing() throws {
        let dir = try TempDir()
        let path = dir.path("crawler.db")
        try makeDatabase(at: path, prod: false).write { db in
            try VideoRow(id: "v", host: "a.example", views: 10, likes: 0, publishedAt: Self.nowMs).insert(db)
        }
        _ = try PopularityRecompute.run(dbPath: path, selection: .incremental, now: Self.now, logger: quietLogger)
        #expect(try scores(path)["v"] == 10)
        let indexes = try DatabaseFile.open(path, role: "test", access: .readOnly).read { try $0.indexes(on: "videos") }
        #expect(indexes.contains { $0.name == "idx_videos_popularity" })
    }

    @Test func aNegativeLikeWeightIsRefusedBeforeWriting() throws {
        let (dir, path) = try prodWithCases()
        let before = try fingerprints(path)
        #expect(throws: PopularityError.self) {
            try PopularityRecompute.run(dbPath: path, selection: .reset, likeWeight: -1, logger: quietLogger)
        }
        #expect(try fingerprints(path) == before)
        _ = dir
    }
}
