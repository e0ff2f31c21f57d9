import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

@Suite struct DatabaseFileTests {
    /// A writer killed mid-transaction leaves a hot rollback journal. A read-only open (the worker's
    /// first look at prod, the smoke checks) must recover the committed state, not refuse the file.
    @Test func aReadOnlyOpenRecoversAHotJournal() throws {
        let dir = try TempDir()
        let live = dir.path("live.db"), crashed = dir.path("crashed.db")
        let queue = try makeDatabase(at: live, prod: true)
        try queue.write { db in try VideoRow(id: "committed", host: "a.example").insert(db) }
        // Copy the file and its journal in the middle of a transaction: the copy is what a SIGKILL leaves.
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = DELETE; PRAGMA cache_size = 1")
            try db.execute(sql: "BEGIN IMMEDIATE")
            for i in 0..<500 { try VideoRow(id: "torn-\(i)", host: "a.example", title: String(repeating: "x", count: 500)).insert(db) }
            try FileManager.default.copyItem(atPath: live, toPath: crashed)
            try FileManager.default.copyItem(atPath: live + "-journal", toPath: crashed + "-journal")
            try db.execute(sql: "ROLLBACK")
        }
        let recovered = try DatabaseFile.open(crashed, role: "prod DB", access: .readOnly)
        let ids = try recovered.read { try String.fetchAll($0, sql: "SELECT video_id FROM videos") }
        #expect(ids == ["committed"])
        #expect(try recovered.read { try $0.integrityCheck() } == ["ok"])
    }
}
