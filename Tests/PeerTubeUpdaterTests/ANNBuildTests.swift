import Foundation
import GRDB
import Logging
import Testing
@testable import PeerTubeUpdater

@Suite struct ANNBuildTests {
    /// A prod DB of `videos` synthetic unit vectors.
    private func prod(_ videos: Int, in dir: TempDir) throws -> String {
        let path = dir.path("prod.db")
        // One topic per video: unclustered vectors, so "finds itself first" checks the id mapping.
        try SyntheticCatalog(seed: 7, instanceCount: 3, topicCount: 1_000_000).write(
            .init(videos: 0..<videos, channels: 0..<20, withEmbeddings: true, isProd: true), to: path, logger: quietLogger)
        return path
    }

    private func build(_ db: String, _ dir: TempDir, nlist: Int = 8, device: ComputeDevice = .cpu, fit: Bool = false,
                       logger: Logger = quietLogger) throws -> ANNBuild.Result {
        try ANNBuild.run(dbPath: db, indexPath: dir.path("index.faiss"), metaPath: dir.path("index.faiss.json"),
                         options: .init(nlist: nlist, device: device, lowerNlistToFit: fit), logger: logger)
    }

    @Test func theIndexReadsBackAndAgreesWithMetaAndDB() throws {
        let dir = try TempDir()
        let db = try prod(1500, in: dir)
        let result = try build(db, dir)
        let index = try FaissIndex.read(dir.path("index.faiss"))
        let meta = try ANNMeta.read(dir.path("index.faiss.json"))
        let rowids = try DatabaseFile.open(db, role: "test", access: .readOnly).read {
            try Int64.fetchSet($0, sql: "SELECT rowid FROM video_embeddings")
        }
        #expect(index.count == 1500 && meta.total == 1500 && result.meta == meta)
        #expect(Set(index.storedIDs) == rowids)
        #expect(meta.indexType == "IVFPQ" && meta.idSource == "video_embeddings.rowid" && meta.acceleration == "cpu")
        #expect(meta.embeddingDim == 384 && meta.nlist == 8 && meta.m == 32 && meta.nbits == 8 && meta.normalized)

        // Every stored vector finds itself first: ids map to the right rows.
        let probe = try DatabaseFile.open(db, role: "test", access: .readOnly).read { db in
            try Row.fetchAll(db, sql: "SELECT rowid, embedding FROM video_embeddings ORDER BY rowid LIMIT 100")
        }
        let queries = probe.flatMap { EmbeddingBlob.decode($0["embedding"] as Data) }
        let found = try index.search(queries, k: 1, nprobe: 16)
        let hits = zip(probe, found.ids).filter { ($0.0["rowid"] as Int64) == $0.1 }.count
        #expect(hits >= 95, "self-recall@1 \(hits)/100")
    }

    @Test func rowsOfAnotherDimensionAreSkippedAndCounted() throws {
        let dir = try TempDir()
        let db = try prod(800, in: dir)
        try DatabaseFile.open(db, role: "test", access: .readWrite).write { db in
            try db.execute(sql: "UPDATE video_embeddings SET embedding = zeroblob(40), embedding_dim = 10 WHERE rowid % 100 = 0")
            try db.execute(sql: "UPDATE video_embeddings SET embedding = zeroblob(100) WHERE rowid = 3")  // blob disagrees with dim
        }
        let result = try build(db, dir)
        #expect(result.skippedRows == 9 && result.meta.total == 791)
        #expect(try FaissIndex.read(dir.path("index.faiss")).count == 791)
    }

    @Test func refusalsLeaveThePublishedIndexAlone() throws {
        let dir = try TempDir()
        let db = try prod(600, in: dir)
        _ = try build(db, dir)
        let published = try Data(contentsOf: URL(fileURLWithPath: dir.path("index.faiss")))
        let meta = try Data(contentsOf: URL(fileURLWithPath: dir.path("index.faiss.json")))

        #expect(throws: ANNError.nlistTooLarge(nlist: 601, vectors: 600, usable: 15)) { try build(db, dir, nlist: 601) }
        // Just under the vector count, or just over 600 ÷ 39: refused too, with the value to use.
        #expect(throws: ANNError.nlistTooLarge(nlist: 599, vectors: 600, usable: 15)) { try build(db, dir, nlist: 599) }
        #expect(throws: ANNError.nlistTooLarge(nlist: 16, vectors: 600, usable: 15)) { try build(db, dir, nlist: 16) }
        #expect("\(ANNError.nlistTooLarge(nlist: 16, vectors: 600, usable: 15))".hasSuffix("use --nlist 15 or less"))
        #expect(throws: GPUUnavailable.self) { try build(db, dir, device: .gpu) }
        let empty = dir.path("empty.db")
        try makeDatabase(at: empty, prod: true)
        #expect(throws: ANNError.noEmbeddings(path: empty)) { try build(empty, dir) }
        #expect(throws: StorageError.self) { try build(dir.path("missing.db"), dir) }

        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path("index.faiss"))) == published)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path("index.faiss.json"))) == meta)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.contains(".tmp-") }.isEmpty)
    }

    @Test func aRebuildKeepsThePreviousVersion() throws {
        let dir = try TempDir()
        let db = try prod(500, in: dir)
        _ = try build(db, dir)
        try DatabaseFile.open(db, role: "test", access: .readWrite).write { try $0.execute(sql: "DELETE FROM video_embeddings WHERE rowid > 450") }
        _ = try build(db, dir)
        #expect(try FaissIndex.read(dir.path("index.faiss")).count == 450)
        #expect(try FaissIndex.read(dir.path("index.faiss.prev")).count == 500)
        #expect(try ANNMeta.read(dir.path("index.faiss.json.prev")).total == 500)
    }

    /// The worker's build lowers an nlist (and nbits) its vectors cannot train, says so, and records
    /// what it built.
    @Test func theWorkerLowersNlistAndNbitsToWhatTheDataTrains() throws {
        let dir = try TempDir()
        let db = try prod(200, in: dir)
        let log = CapturedLog()
        let result = try build(db, dir, nlist: 200, fit: true, logger: log.logger)
        #expect(result.meta.nlist == 5 && result.meta.nbits == 7 && result.meta.total == 200)
        #expect(try ANNMeta.read(dir.path("index.faiss.json")).nlist == 5)
        #expect(log.lines.contains { $0.contains("--nlist 200 lowered to 5") }, "\(log.lines)")
        #expect(log.lines.contains { $0.contains("--nbits 8 lowered to 7") })
        #expect(throws: ANNError.self) { try build(db, dir, nlist: 5) }  // nbits 8 for 200 vectors: refused without fit
    }

    @Test func aCorruptIndexIsAnErrorNotACrash() throws {
        let dir = try TempDir()
        let db = try prod(400, in: dir)
        _ = try build(db, dir)
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir.path("index.faiss")))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: dir.path("truncated.faiss")))
        #expect(throws: FaissError.self) { try FaissIndex.read(dir.path("truncated.faiss")) }
        try Data("not an index".utf8).write(to: URL(fileURLWithPath: dir.path("junk.faiss")))
        #expect(throws: FaissError.self) { try FaissIndex.read(dir.path("junk.faiss")) }
        #expect(throws: FaissError.self) { try FaissIndex.read(dir.path("absent.faiss")) }
    }
}
