import Foundation
import GRDB
import Testing
@testable import PeerTubeUpdater

extension Integration {
@Suite struct EmbeddingStageTests {
    private func vectors(_ path: String) throws -> [String: (rowid: Int64, vector: [Float], dim: Int, model: String)] {
        try DatabaseFile.open(path, role: "test", access: .readOnly).read { db in
            var result: [String: (Int64, [Float], Int, String)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT rowid, video_id, embedding, embedding_dim, model_name FROM video_embeddings") {
                result[row["video_id"]] = (row["rowid"], EmbeddingBlob.decode(row["embedding"] as Data), row["embedding_dim"], row["model_name"])
            }
            return result
        }
    }

    private func stagingWithVideos(_ count: Int, in dir: TempDir) throws -> String {
        let path = dir.path("staging.db")
        try makeDatabase(at: path, prod: false).write { db in
            for index in 0..<count {
                try VideoRow(id: "v\(index)", host: "a.example", title: "Video number \(index) about cooking soup").insert(db)
            }
        }
        return path
    }

    @Test func embedsEveryVideoOnceWithTheDesignText() throws {
        let embedder = try InstalledModel.embedder.get()
        let dir = try TempDir()
        let path = try stagingWithVideos(20, in: dir)
        try DatabaseFile.open(path, role: "test", access: .readWrite).write { db in
            try db.execute(sql: """
                UPDATE videos SET description = '  Full description.  ', tags_json = '["soup", " ", "winter"]',
                    category = 'Food', channel_name = 'Cooking 🍲', comments_count = 0 WHERE video_id = 'v3'
                """)
        }
        let first = try EmbeddingStage.run(dbPath: path, embedder: embedder, options: .init(batchSize: 8), logger: quietLogger)
        #expect(first == .init(candidates: 20, embedded: 20, withoutText: 0, durationMs: first.durationMs))
        let stored = try vectors(path)
        #expect(stored.count == 20)
        let expectedText = "Video number 3 about cooking soup\nFull description.\ntags: soup, winter\ncategory: Food\nchannel: Cooking 🍲\ncomments_count: 0"
        let expected = try embedder.embed([expectedText])[0]
        let got = try #require(stored["v3"])
        #expect(got.dim == 384 && got.model == "all-MiniLM-L6-v2")
        #expect(zip(got.vector, expected).allSatisfy { abs($0 - $1) < 1e-5 })

        let again = try EmbeddingStage.run(dbPath: path, embedder: embedder, logger: quietLogger)
        #expect(again.candidates == 0 && again.embedded == 0)
    }

    @Test func forceReEmbedsInPlaceKeepingRowids() throws {
        let embedder = try InstalledModel.embedder.get()
        let dir = try TempDir()
        let path = try stagingWithVideos(6, in: dir)
        _ = try EmbeddingStage.run(dbPath: path, embedder: embedder, logger: quietLogger)
        let before = try vectors(path)
        try DatabaseFile.open(path, role: "test", access: .readWrite).write { db in
            try db.execute(sql: "UPDATE videos SET title = 'Completely different: trains in the mountains' WHERE video_id = 'v1'")
        }
        let forced = try EmbeddingStage.run(dbPath: path, embedder: embedder, options: .init(force: true), logger: quietLogger)
        #expect(forced.embedded == 6)
        let after = try vectors(path)
        #expect(after.mapValues(\.rowid) == before.mapValues(\.rowid))
        // v1's text changed, so did its vector; v2's text did not, so its vector is the same up to the
        // float rounding of another batch shape (OpenBLAS sums a GEMM in an order that depends on it).
        func maxDiff(_ id: String) -> Float { zip(after[id]!.vector, before[id]!.vector).map { abs($0 - $1) }.max() ?? 0 }
        #expect(maxDiff("v1") > 0.01)
        #expect(maxDiff("v2") < 1e-6, "v2 moved by \(maxDiff("v2"))")
    }

    @Test func hostileTextIsHandled() throws {
        let embedder = try InstalledModel.embedder.get()
        let dir = try TempDir()
        let path = try stagingWithVideos(0, in: dir)
        try DatabaseFile.open(path, role: "test", access: .readWrite).write { db in
            // Invalid UTF-8, an embedded NUL, a 20k-character description, and a video with no text at all.
            try db.execute(sql: """
                INSERT INTO videos(video_id, instance_domain, title, description, last_checked_at) VALUES
                  ('bad-utf8', 'a.example', CAST(x'41fffe42c3' AS TEXT), NULL, 0),
                  ('nul', 'a.example', 'before' || char(0) || 'after', NULL, 0),
                  ('huge', 'a.example', 'Huge', substr(replace(hex(zeroblob(10000)), '00', 'word '), 1, 20000), 0),
                  ('empty', 'a.example', '   ', NULL, 0)
                """)
        }
        let result = try EmbeddingStage.run(dbPath: path, embedder: embedder, logger: quietLogger)
        #expect(result.embedded == 3 && result.withoutText == 1)
        let stored = try vectors(path)
        for id in ["bad-utf8", "nul", "huge"] {
            let norm = stored[id].map { $0.vector.reduce(0) { $0 + $1 * $1 } } ?? 0
            #expect(abs(norm - 1) < 1e-4, "\(id)")
        }
    }

    @Test func anInterruptedRunKeepsItsBatchesAndResumes() throws {
        let dir = try TempDir()
        let path = try stagingWithVideos(160, in: dir)
        let model = InstalledModel.directory
        // Killed by the fault plan right after its third batch committed: deterministic, whatever the load.
        let killed = try runUpdater(["embed", "--db", path, "--batch-size", "8", "--model-dir", model],
                                    environment: [FaultPlan.killEnvironmentVariable: "\(FaultPoint.embeddingsBatch.name):3"])
        #expect(killed.status != 0)
        let kept = try DatabaseFile.open(path, role: "test", access: .readOnly).read { try $0.rowCount(of: "video_embeddings") }
        #expect(kept == 24, "kept \(kept)")  // the three whole batches committed before the kill

        let resumed = try runUpdater(["embed", "--db", path, "--batch-size", "32", "--model-dir", model])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("videos_to_embed=\(160 - kept)"), "\(resumed.stdout)")
        let (total, integrity) = try DatabaseFile.open(path, role: "test", access: .readOnly).read { db in
            (try db.rowCount(of: "video_embeddings"), try db.integrityCheck())
        }
        #expect(total == 160 && integrity == ["ok"])
    }

    @Test func embeddingTextFollowsTheDesign() {
        #expect(EmbeddingText(title: " T ", tagsJSON: "\"solo\"", commentsCount: 3).text == "T\ntags: solo\ncomments_count: 3")
        #expect(EmbeddingText(title: "T", tagsJSON: "not json, really").text == "T\ntags: not json, really")
        #expect(EmbeddingText(title: "T", tagsJSON: "null").text == "T")
        #expect(EmbeddingText(tagsJSON: "[1, \"two\"]").text == "tags: 1, two")
        #expect(EmbeddingText(title: "  ", description: "\n").text == nil)
    }
}
}
