import Foundation
import GRDB
@testable import PeerTubeUpdater
import SmokeHarness
import Testing

extension Integration {
/// Tests of the tests: the smoke checks must report a broken run, or they prove nothing.
@Suite("Smoke checks catch breakage", .serialized)
struct SmokeChecksTests {
    @Test("a merge that does not apply the replace rule is reported")
    func replaceNotApplied() async throws {
        try await WorkerFixture.with { w in
            let layout = try w.layout("broken-replace")
            let broken = try w.rules(embeddingsStrategy: "INSERT_ONLY")
            let outcome = try await w.run(layout, ["--inject-replace-embedding-for-test"], mergeRules: broken.path)
            #expect(outcome.exitCode == 0)
            let checks = try w.checks(layout, outcome)  // judged by the shipped rules
            let embeddings = try #require(checks["merge_video_embeddings"])
            #expect(!embeddings.passed)
            #expect(embeddings.value["mismatched_rows"] == .int(1))
            #expect(checks["merge_videos"]?.passed == true)
        }
    }

    @Test("a merge that changes an existing row its rules protect is reported")
    func existingRowChanged() async throws {
        try await WorkerFixture.with { w in
            let layout = try w.layout("changed-row")
            let outcome = try await w.run(layout, ["--inject-replace-embedding-for-test"])
            #expect(outcome.exitCode == 0)
            let insertOnly = try w.rules(embeddingsStrategy: "INSERT_ONLY").set
            let checks = try w.checks(layout, outcome, rules: insertOnly)
            let embeddings = try #require(checks["merge_video_embeddings"])
            #expect(!embeddings.passed)
            #expect(embeddings.value["changed_existing_rows"] == .int(1))
        }
    }

    @Test("an ANN build that skips rows is reported (meta total, index ids, similarity coverage)")
    func annSkipsRows() async throws {
        try await WorkerFixture.with { w in
            let layout = try w.layout("ann-skips")
            // One video whose embedding has another dimension: the ANN build skips it.
            try await DatabaseFile.open(layout.prodDB, role: "test", access: .readWrite).write { db in
                try db.execute(sql: "INSERT INTO videos(video_id, instance_domain, title, last_checked_at) VALUES ('odd', ?, 'odd one', 0)",
                               arguments: [w.fixture.mini.hosts[0]])
                try db.execute(sql: """
                    INSERT INTO video_embeddings(video_id, instance_domain, embedding, embedding_dim, model_name, created_at)
                    VALUES ('odd', ?, ?, 128, 'other-model', '2026-01-01T00:00:00+00:00')
                    """, arguments: [w.fixture.mini.hosts[0], EmbeddingBlob.encode([Float](repeating: 0.1, count: 128))])
            }
            let before = w.path("ann-skips-before.db")
            try FileCopy.copy(layout.prodDB, to: before)
            let outcome = try await w.run(layout)
            #expect(outcome.exitCode == 0)
            let checks = try w.checks(layout, outcome, beforePath: before)
            #expect(checks["ann_meta_total"]?.passed == false)
            #expect(checks["ann_ids_resolve"]?.passed == false)
            #expect(checks["similarity_coverage"]?.passed == false)
            #expect(checks["merge_videos"]?.passed == true)
        }
    }

    @Test("missing markers, the wrong device, a held lock and a corrupt DB are reported")
    func logLockAndIntegrity() throws {
        let failed = WorkerLog.parse("""
            t INFO  run: staging_init x
            t INFO  done: staging_init (5ms)
            t INFO  embeddings: device=cpu model=m
            t INFO  ann: mode=cpu vectors=3
            """)
        let markers = SmokeChecks.logMarkers(failed)
        #expect(!markers.passed)
        #expect(markers.detail.contains("similarity_precompute") && markers.detail.contains("worker completed"))
        #expect(!SmokeChecks.deviceMarkers(failed, device: .gpu).passed)
        #expect(SmokeChecks.deviceMarkers(failed, device: .cpu).passed)

        let temp = try TempDir()
        let lock = try RunLock.acquire(at: temp.path("held.lock"), logger: quietLogger)
        #expect(!SmokeChecks.lockReleased(temp.path("held.lock")).passed)
        lock.release()
        #expect(SmokeChecks.lockReleased(temp.path("held.lock")).passed)

        let db = temp.path("torn.db")
        try makeDatabase(at: db, prod: true)
        try DatabaseFile.open(db, role: "test", access: .readWrite).write { db in
            for i in 0..<2000 { try VideoRow(id: "v\(i)", host: "h.example", title: String(repeating: "t", count: 200)).insert(db) }
        }
        // Tear out a page in the middle of the file.
        let handle = try #require(FileHandle(forUpdatingAtPath: db))
        try handle.seek(toOffset: 40 * 4096)
        handle.write(Data(repeating: 0xA5, count: 4096))
        try handle.close()
        #expect(try !SmokeChecks.integrity(["torn": db]).passed)
    }
}
}
