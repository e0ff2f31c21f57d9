import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRDB
@testable import PeerTubeServe
@testable import PeerTubeUpdater
import Testing

/// A `TopicCorpus` (prod, index and cache built by the real stages) as `serve` reads it.
struct ServedCorpus {
    let corpus: TopicCorpus
    var options: ServeOptions
    static let host = "a.example"

    init(videos: Int, model: Bool = false) throws {
        corpus = try TopicCorpus()
        try corpus.add(0..<videos)
        try corpus.buildIndex()
        _ = try corpus.precompute(.reset)
        options = ServeOptions(prodPath: corpus.prod, indexPath: corpus.index, metaPath: corpus.index + ".json",
                               cachePath: corpus.cache, modelDirectory: model ? InstalledModel.directory : nil)
        options.port = 0
        for (path, role) in [(corpus.prod, "prod DB"), (corpus.cache, "similarity cache")] {
            _ = try ServedGeneration.prepareForReaders(path, role: role)
        }
    }

    func editProd(_ sql: String) throws {
        try DatabaseFile.open(corpus.prod, role: "test", access: .readWrite).write { try $0.execute(sql: sql) }
    }
}

extension Integration {
@Suite("Serve over HTTP", .serialized)
struct ServeHTTPTests {
    /// Runs a `ReadServer` on a free loopback port for `body`, which gets `http://127.0.0.1:port`.
    private func withServer(_ options: ServeOptions, _ body: (String) async throws -> Void) async throws {
        let server = try ReadServer(options: options, logger: quietLogger)
        let (addresses, continuation) = AsyncStream.makeStream(of: String.self)
        let running = Task { try await server.run { continuation.yield($0) } }
        var iterator = addresses.makeAsyncIterator()
        guard let address = await iterator.next() else { throw CancellationError() }
        do { try await body("http://" + address) } catch {
            await server.stop()
            running.cancel()
            throw error
        }
        await server.stop()
        running.cancel()
    }

    private func get(_ url: String, method: String = "GET") async throws -> (status: Int, json: [String: Any]) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    @Test("every endpoint answers from prod, cache and index; the search re-ranks exactly; bad requests get a 4xx and change nothing")
    func endpoints() async throws {
        let served = try ServedCorpus(videos: 300, model: true)
        let embedder = try InstalledModel.embedder.get()
        let before = try fingerprints(served.corpus.prod)
        try await withServer(served.options) { base in
            let host = ServedCorpus.host
            let similar = try await get("\(base)/api/v1/videos/\(host)/v-3-3/similar?count=7")
            #expect(similar.status == 200)
            let data = similar.json["data"] as? [[String: Any]] ?? []
            #expect(data.count == 7 && similar.json["total"] as? Int == 7)
            let cached = try served.corpus.lists()["v-3-3"] ?? []
            #expect(data.compactMap { ($0["video"] as? [String: Any])?["id"] as? String } == Array(cached.prefix(7)), "the cached list, in rank order")
            #expect(data.allSatisfy { (($0["video"] as? [String: Any])?["name"] as? String)?.hasPrefix("Video ") == true }, "metadata joined from prod")
            let scores = data.compactMap { $0["score"] as? Double }
            #expect(scores == scores.sorted(by: >))

            let video = try await get("\(base)/api/v1/videos/\(host)/v-3-3")
            #expect(video.status == 200 && video.json["name"] as? String == "Video 3" && video.json["host"] as? String == host)

            // The search: the top 5 equal an exact search over every prod vector.
            let text = "a documentary about mountain railways"
            let search = try await get("\(base)/api/v1/search/similar?count=5&text=" + text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            #expect(search.status == 200)
            let found = (search.json["data"] as? [[String: Any]] ?? []).compactMap { ($0["video"] as? [String: Any])?["id"] as? String }
            let query = try embedder.embed([text])[0]
            let exact = try await DatabaseFile.open(served.corpus.prod, role: "test", access: .readOnly).read { (db: Database) throws -> [(id: String, score: Float)] in
                try Row.fetchAll(db, sql: "SELECT video_id, embedding FROM video_embeddings").map { row in
                    (id: row["video_id"] as String, score: zip(EmbeddingBlob.decode(row["embedding"] as Data), query).reduce(Float(0)) { $0 + $1.0 * $1.1 })
                }
            }.sorted { $0.score > $1.score }.prefix(5).map(\.id)
            #expect(found == exact)

            let health = try await get("\(base)/healthz")
            #expect(health.status == 200 && health.json["consistent"] as? Bool == true && health.json["textSearch"] as? Bool == true)
            #expect((health.json["artifacts"] as? [String: Any])?["cacheSources"] as? Int == 300)

            // Bad requests: a clear 4xx each, nothing of them reaching SQLite unbound.
            for (path, status) in [
                ("/api/v1/videos/\(host)/v-3-3/similar?count=0", 400), ("/api/v1/videos/\(host)/v-3-3/similar?count=51", 400),
                ("/api/v1/videos/\(host)/v-3-3/similar?count=ten", 400),
                ("/api/v1/videos/\(host)/v-3-3%27%3B%20DROP%20TABLE%20videos%3B--/similar", 400),
                ("/api/v1/videos/a.example%27%20OR%201%3D1--/v-3-3", 400), ("/api/v1/videos/..%2F..%2Fetc/passwd", 400),
                ("/api/v1/videos/\(host)/no-such-video/similar", 404), ("/api/v1/videos/other.example/v-3-3", 404),
                ("/api/v1/search/similar", 400), ("/api/v1/search/similar?text=" + String(repeating: "a", count: 1_001), 400),
                ("/api/v1/nothing", 404), ("/../../etc/passwd", 404),
            ] {
                let answer = try await get(base + path)
                #expect(answer.status == status, "\(path): \(answer.status) \(answer.json)")
                #expect(answer.json["detail"] is String, "\(path): a problem document")
            }
            let post = try await get("\(base)/healthz", method: "POST")
            #expect(post.status == 405)
        }
        #expect(try fingerprints(served.corpus.prod) == before, "serve only reads prod")
    }

    @Test("without a model, text search answers 503 and the rest serves")
    func withoutModel() async throws {
        let served = try ServedCorpus(videos: 60)
        try await withServer(served.options) { base in
            let search = try await get("\(base)/api/v1/search/similar?text=music")
            let similar = try await get("\(base)/api/v1/videos/a.example/v-1-1/similar")
            #expect(search.status == 503 && similar.status == 200)
        }
    }
}
}

/// Generations: what a request holds, and when serve switches.
@Suite struct ServeGenerationTests {
    @Test("a held generation keeps its snapshot; a new one is served only once prod, index and cache agree")
    func switching() throws {
        let served = try ServedCorpus(videos: 120)
        let watcher = try GenerationWatcher(options: served.options, logger: quietLogger)
        let old = watcher.current
        #expect(old.consistent)
        let (host, gone) = (ServedCorpus.host, "v-7-7")
        let namingGone = try #require(try served.corpus.lists().first { $0.value.contains(gone) }?.key)

        // The worker's merge: a title edited, a video deleted.
        try served.editProd("UPDATE videos SET title = 'New title' WHERE video_id = 'v-0-0'")
        try served.editProd("DELETE FROM video_embeddings WHERE video_id = '\(gone)'; DELETE FROM videos WHERE video_id = '\(gone)'")
        #expect(!watcher.poll(), "prod is ahead of the cache: the old generation goes on answering")
        #expect(watcher.current === old)
        #expect(try old.video(host: host, id: "v-0-0")?.name == "Video 0")
        #expect(try old.similar(host: host, id: namingGone, count: 20)?.contains { $0.video.id == gone } == true,
                "the old list and the old prod, together")

        try served.corpus.buildIndex()
        #expect(!watcher.poll(), "a new index alone is not a generation")
        _ = try served.corpus.precompute(.incremental)
        #expect(watcher.poll())
        let new = watcher.current
        #expect(new.consistent && new.sequence > old.sequence)
        #expect(try new.video(host: host, id: "v-0-0")?.name == "New title")
        #expect(try new.video(host: host, id: gone) == nil)
        let list = try #require(try new.similar(host: host, id: namingGone, count: 20))
        #expect(list.count == 20 && !list.contains { $0.video.id == gone })

        // A request still holding the old generation answers as it began.
        #expect(try old.video(host: host, id: "v-0-0")?.name == "Video 0")
        #expect(try old.video(host: host, id: gone) != nil)
    }

    @Test("a reset while serve reads the cache commits into the live file (no rename under a WAL reader); without a reader it renames")
    func resetWithReader() throws {
        let served = try ServedCorpus(videos: 80)
        let inode = { (path: String) -> UInt64 in (try? FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64) ?? 0 }
        let before = inode(served.corpus.cache)
        var generation: ServedGeneration? = try ServedGeneration.open(served.options, sequence: 1)
        let log = CapturedLog()
        _ = try SimilarityPrecompute.run(dbPath: served.corpus.prod, indexPath: served.corpus.index, outPath: served.corpus.cache,
                                         options: .init(selection: .reset), logger: log.logger)
        #expect(log.lines.contains { $0.contains("committed into it in one transaction") })
        #expect(inode(served.corpus.cache) == before, "the live file, not a new one")
        #expect(try generation?.similar(host: ServedCorpus.host, id: "v-1-1", count: 5)?.count == 5)
        let integrity = try DatabaseFile.open(served.corpus.cache, role: "test", access: .readOnly).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
        #expect(try served.corpus.lists().count == 80)

        generation = nil  // the reader closes
        _ = generation
        let quiet = CapturedLog()
        _ = try SimilarityPrecompute.run(dbPath: served.corpus.prod, indexPath: served.corpus.index, outPath: served.corpus.cache,
                                         options: .init(selection: .reset), logger: quiet.logger)
        #expect(!quiet.lines.contains { $0.contains("committed into it") })
        #expect(inode(served.corpus.cache) != before, "published by rename")
        #expect(try served.corpus.lists().count == 80)
    }
}
