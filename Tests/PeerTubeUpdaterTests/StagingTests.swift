import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

@Suite struct StagingTests {
    @Test func recreateDeletesTheOldFileWithItsSidecars() throws {
        let dir = try TempDir()
        let path = dir.path("staging.db")
        try makeDatabase(at: path, prod: false).write { db in try insertInstance("stale.example", db) }
        // A leftover WAL from another file must not be replayed into the new one.
        #expect(FileManager.default.createFile(atPath: path + "-wal", contents: Data("junk".utf8)))
        #expect(FileManager.default.createFile(atPath: path + "-shm", contents: Data("junk".utf8)))
        let staging = try StagingDatabase.recreate(at: path)
        let (rows, hasState, integrity) = try staging.read { db in
            (try db.rowCount(of: "instances"), try db.hasTable("crawl_state"), try db.integrityCheck())
        }
        #expect(rows == 0 && hasState && integrity == ["ok"])
        #expect(!FileManager.default.fileExists(atPath: path + "-shm") || (FileManager.default.contents(atPath: path + "-shm") != Data("junk".utf8)))
    }

    @Test func seedCopiesHostsAndChannelsAndRecordsWhen() throws {
        let fixture = try MergeFixture()
        let staging = try StagingDatabase.recreate(at: fixture.dir.path("fresh-staging.db"))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let summary = try StagingDatabase.seed(staging, fromProdAt: fixture.prod, now: now)
        #expect(summary == .init(instances: 2, channels: 1, seededAtMs: 1_800_000_000_000))
        let (videos, seededAt) = try staging.read { db in
            (try db.rowCount(of: "videos"), try String.fetchOne(db, sql: "SELECT value FROM crawl_state WHERE key = 'stage_seeded_at'"))
        }
        #expect(videos == 0)  // videos are never seeded: the crawl is new-only against prod
        #expect(seededAt == "1800000000000")
    }

    @Test func resumeKeepsWhatStagingHas() throws {
        let dir = try TempDir()
        let path = dir.path("staging.db")
        try StagingDatabase.recreate(at: path).write { db in try insertInstance("kept.example", db) }
        #expect(try StagingDatabase.openOrCreate(at: path).read { try $0.rowCount(of: "instances") } == 1)
    }

    @Test func seedingFromAMissingProdNamesIt() throws {
        let dir = try TempDir()
        let staging = try StagingDatabase.recreate(at: dir.path("staging.db"))
        #expect(throws: StorageError.fileNotFound(role: "prod DB", path: dir.path("nope.db"))) {
            try StagingDatabase.seed(staging, fromProdAt: dir.path("nope.db"))
        }
    }
}
