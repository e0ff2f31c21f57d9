import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

/// Prod is changed by the whole merge or not at all.
@Suite struct MergeAtomicityTests {
    private func rules(_ json: String) throws -> MergeRuleSet {
        try MergeRuleSet.parse(Data(json.utf8), source: "test-rules.json")
    }

    @Test(arguments: [
        (#"{"name": "no_such_table", "strategy": "INSERT_ONLY", "keys": ["id"]}"#, "no_such_table: missing in prod DB"),
        (#"{"name": "videos", "strategy": "INSERT_ONLY", "keys": ["video_id", "nope"]}"#, "key column 'nope' missing in prod DB"),
        (#"{"name": "videos", "strategy": "INSERT_ONLY", "keys": ["video_id"]}"#, "not the primary key or a unique index"),
        (#"{"name": "videos", "strategy": "UPSERT", "keys": ["video_id", "instance_domain"], "update_columns": ["popularity"]}"#,
         "update column 'popularity' is not in both prod and staging"),
    ])
    func anInvalidLastRuleWritesNothing(lastRule: String, message: String) throws {
        let fixture = try MergeFixture()
        let before = try fingerprints(fixture.prod)
        let set = try rules("""
            {"tables": [
              {"name": "instances", "strategy": "INSERT_ONLY", "keys": ["host"]},
              {"name": "channels", "strategy": "INSERT_ONLY", "keys": ["channel_id", "instance_domain"]},
              \(lastRule)]}
            """)
        let error = try #require(throws: MergeRuleError.self) { try fixture.merge(set) }
        #expect(error.description.contains(message), "\(error)")
        #expect(error.description.contains("test-rules.json"))
        #expect(try fingerprints(fixture.prod) == before)
    }

    @Test func aFailureMidMergeRollsEveryTableBack() throws {
        // Staging's videos violate prod's NOT NULL: instances and channels are merged first, then the
        // videos statement fails. Nothing of the first two may remain.
        let fixture = try MergeFixture()
        try DatabaseFile.open(fixture.staging, role: "test", access: .readWrite).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try db.execute(sql: """
                CREATE TABLE videos_loose AS SELECT * FROM videos;
                DROP TABLE videos;
                ALTER TABLE videos_loose RENAME TO videos;
                CREATE UNIQUE INDEX videos_key ON videos(video_id, instance_domain);
                UPDATE videos SET last_checked_at = NULL WHERE video_id = 'v5';
                """)
        }
        let before = try fingerprints(fixture.prod)
        let error = try #require(throws: MergeFailure.self) { try fixture.merge() }
        #expect(error.table == "videos")
        #expect(error.description.contains("NOT NULL constraint failed"), "\(error)")
        #expect(try fingerprints(fixture.prod) == before)
        #expect(try fixture.read("SELECT count(*) FROM instances WHERE host = 'c.example'") == 0)
    }

    @Test func aForeignKeyViolationRollsBackToo() throws {
        // An embedding whose video exists nowhere: the FK to videos fails on the last table.
        let fixture = try MergeFixture()
        try DatabaseFile.open(fixture.staging, role: "test", access: .readWrite).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try insertEmbedding("ghost", "a.example", firstValue: 1, db)
        }
        let before = try fingerprints(fixture.prod)
        let error = try #require(throws: MergeFailure.self) { try fixture.merge() }
        #expect(error.table == "video_embeddings")
        #expect(try fingerprints(fixture.prod) == before)
    }

    @Test func aStagingDBWithoutTheTablesIsRefusedBeforeWriting() throws {
        let fixture = try MergeFixture()
        let empty = fixture.dir.path("empty.db")
        try DatabaseFile.open(empty, role: "test", access: .create).write { try $0.execute(sql: "CREATE TABLE unrelated(x)") }
        let before = try fingerprints(fixture.prod)
        let error = try #require(throws: MergeRuleError.self) {
            try StagingMerge.run(prodPath: fixture.prod, stagingPath: empty, rules: .builtIn, logger: quietLogger)
        }
        #expect(error.description.contains("table instances: missing in staging DB"))
        #expect(try fingerprints(fixture.prod) == before)
    }
}
