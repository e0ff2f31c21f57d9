import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

/// A small prod and a staging that overlaps it, on real SQLite files.
///
/// prod:    instances a, b; channel c1@a; videos v1@a, v2@a, v3@b; embeddings for all three.
/// staging: instances a, c; channels c1@a (renamed), c2@c; videos v2@a (retitled), v4@c, v5@a;
///          embeddings v2@a (changed vector), v4@c, v5@a.
struct MergeFixture {
    let dir: TempDir
    var prod: String { dir.path("prod.db") }
    var before: String { dir.path("before.db") }
    var staging: String { dir.path("staging.db") }

    init() throws {
        dir = try TempDir()
        try makeDatabase(at: dir.path("prod.db"), prod: true).write { db in
            for host in ["a.example", "b.example"] { try insertInstance(host, db) }
            try insertChannel("c1", "a.example", name: "original", db)
            try VideoRow(id: "v1", host: "a.example").insert(db)
            try VideoRow(id: "v2", host: "a.example", title: "Old title").insert(db)
            try VideoRow(id: "v3", host: "b.example").insert(db)
            try insertEmbedding("v1", "a.example", firstValue: 0.1, db)
            try insertEmbedding("v2", "a.example", firstValue: 0.2, db)
            try insertEmbedding("v3", "b.example", firstValue: 0.3, db)
        }
        try makeDatabase(at: dir.path("staging.db"), prod: false).write { db in
            for host in ["a.example", "c.example"] { try insertInstance(host, db) }
            try insertChannel("c1", "a.example", name: "renamed", db)
            try insertChannel("c2", "c.example", db)
            try VideoRow(id: "v2", host: "a.example", title: "New title").insert(db)
            try VideoRow(id: "v4", host: "c.example").insert(db)
            try VideoRow(id: "v5", host: "a.example").insert(db)
            try insertEmbedding("v2", "a.example", firstValue: 0.9, db)
            try insertEmbedding("v4", "c.example", firstValue: 0.4, db)
            try insertEmbedding("v5", "a.example", firstValue: 0.5, db)
        }
        try FileManager.default.copyItem(atPath: prod, toPath: before)
    }

    func merge(_ rules: MergeRuleSet = .builtIn) throws -> [TableMergeResult] {
        try StagingMerge.run(prodPath: prod, stagingPath: staging, rules: rules, logger: quietLogger)
    }

    func invariants(_ rules: MergeRuleSet = .builtIn) throws -> [String: MergeInvariants] {
        let list = try MergeInvariants.check(prodPath: prod, beforePath: before, stagingPath: staging, rules: rules)
        return Dictionary(uniqueKeysWithValues: list.map { ($0.table, $0) })
    }

    func read<T>(_ sql: String, from path: String? = nil) throws -> T? where T: DatabaseValueConvertible {
        try DatabaseFile.open(path ?? prod, role: "test DB", access: .readOnly).read { try T.fetchOne($0, sql: sql) }
    }
}

@Suite struct MergeTests {
    @Test func builtInRulesKeepEveryInvariant() throws {
        let fixture = try MergeFixture()
        let results = try fixture.merge()
        #expect(results.map(\.table) == ["instances", "channels", "videos", "video_embeddings"])
        #expect(results.map(\.inserted) == [1, 1, 2, 2])
        #expect(results.map(\.updated) == [0, 0, 0, 1])

        let checks = try fixture.invariants()
        for (table, check) in checks {
            #expect(check.holds, "\(table): \(check)")
            #expect(check.duplicateKeyGroups == 0)
        }
        #expect(checks["videos"]?.expectedNewRows == 2)
        #expect(checks["video_embeddings"]?.overlappingKeys == 1)
    }

    @Test func insertOnlyNeverChangesAnExistingRow() throws {
        let fixture = try MergeFixture()
        _ = try fixture.merge()
        #expect(try fixture.read("SELECT title FROM videos WHERE video_id = 'v2'") == "Old title")
        #expect(try fixture.read("SELECT channel_name FROM channels WHERE channel_id = 'c1'") == "original")
        #expect(try fixture.read("SELECT count(*) FROM videos") == 5)
        #expect(try fixture.read("SELECT count(*) FROM instances WHERE host = 'c.example'") == 1)
    }

    @Test func insertOrReplaceMakesProdEqualStagingAndKeepsTheRowid() throws {
        let fixture = try MergeFixture()
        let rowidBefore: Int? = try fixture.read("SELECT rowid FROM video_embeddings WHERE video_id = 'v2'")
        _ = try fixture.merge()
        let prodBlob: Data? = try fixture.read("SELECT embedding FROM video_embeddings WHERE video_id = 'v2'")
        let stagingBlob: Data? = try fixture.read("SELECT embedding FROM video_embeddings WHERE video_id = 'v2'", from: fixture.staging)
        #expect(prodBlob != nil && prodBlob == stagingBlob)
        // ANN ids are rowids: a replaced embedding must keep its id.
        #expect(try fixture.read("SELECT rowid FROM video_embeddings WHERE video_id = 'v2'") == rowidBefore)
    }

    @Test func upsertUpdatesOnlyTheNamedColumns() throws {
        let fixture = try MergeFixture()
        try DatabaseFile.open(fixture.staging, role: "test", access: .readWrite).write { db in
            try db.execute(sql: "UPDATE videos SET views = 999, likes = 77 WHERE video_id = 'v2'")
        }
        let rules = try MergeRuleSet.parse(Data("""
            {"tables": [{"name": "videos", "strategy": "UPSERT", "keys": ["video_id", "instance_domain"],
                         "update_columns": ["title", "views"]}]}
            """.utf8), source: "test")
        let results = try fixture.merge(rules)
        #expect(results.first?.inserted == 2 && results.first?.updated == 1)
        #expect(try fixture.read("SELECT title FROM videos WHERE video_id = 'v2'") == "New title")
        #expect(try fixture.read("SELECT views FROM videos WHERE video_id = 'v2'") == 999)
        #expect(try fixture.read("SELECT likes FROM videos WHERE video_id = 'v2'") == 1)  // not named: unchanged
        let check = try #require(fixture.invariants(rules)["videos"])
        #expect(check.holds, "\(check)")
    }

    @Test func mergingTwiceChangesNothingTheSecondTime() throws {
        let fixture = try MergeFixture()
        _ = try fixture.merge()
        let once = try fingerprints(fixture.prod)
        let again = try fixture.merge()
        #expect(again.allSatisfy { $0.inserted == 0 && $0.updated == 0 })
        #expect(try fingerprints(fixture.prod) == once)
    }

    @Test func newRowCountsPredictTheMerge() throws {
        let fixture = try MergeFixture()
        let predicted = try StagingMerge.newRowCounts(prodPath: fixture.prod, stagingPath: fixture.staging, rules: .builtIn)
        let results = try fixture.merge()
        #expect(predicted == Dictionary(uniqueKeysWithValues: results.map { ($0.table, $0.inserted) }))
    }

    @Test func theCheckerCatchesAMergeThatBreaksItsRule() throws {
        // Merge with REPLACE-like rules, then judge by the built-in INSERT_ONLY rules: the checker must
        // see the changed existing rows. A check that cannot fail proves nothing.
        let fixture = try MergeFixture()
        let replaceAll = try MergeRuleSet.parse(Data("""
            {"tables": [{"name": "videos", "strategy": "INSERT_OR_REPLACE", "keys": ["video_id", "instance_domain"]}]}
            """.utf8), source: "test")
        _ = try fixture.merge(replaceAll)
        let check = try #require(fixture.invariants()["videos"])
        #expect(check.changedExistingRows == 1)
        #expect(!check.holds)
        // And a merge that never ran misses its expected new rows.
        let skipped = try #require(fixture.invariants()["video_embeddings"])
        #expect(skipped.actualNewRows == 0 && skipped.expectedNewRows == 2 && !skipped.holds)
    }
}
