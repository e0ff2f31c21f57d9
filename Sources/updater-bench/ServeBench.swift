import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRDB
import PeerTubeServe
import PeerTubeUpdater
import Synchronization

/// What `serve` sustains on this machine: `/similar` and `/search/similar` over the similarity
/// benchmark's prod (index and cache built by the real stages), a closed loop of concurrent clients
/// over loopback HTTP in the same process (so the clients' own cost is in the figures).
struct ServeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Requests per second and p50/p99 latency of serve's /similar and /search/similar on a 100,000-video prod."
    )

    @Option var videos = 100_000
    @Option var nlist = 1024
    @Option(help: "Concurrent clients, each sending its next request when the last is answered.")
    var clients = 8
    @Option(help: "Seconds each run of an endpoint lasts.")
    var seconds = 5.0
    @Option(name: .customLong("model-dir")) var modelDir: String?
    @Option(name: .customLong("texts"), help: "A JSON list of texts; each one's first 8 words make a search query.")
    var texts = "bench-data/texts-2000.json"
    @Option(help: "Which endpoints to measure: similar, search, or both.")
    var endpoints = "both"
    @OptionGroup var data: BenchData

    func run() async throws {
        let logger = try data.prepare()
        let base = try data.syntheticProd(videos: videos, logger: logger)
        let (prod, index, cache) = ("\(data.dataDir)/serve-prod.db", "\(data.dataDir)/serve.faiss", "\(data.dataDir)/serve-cache.db")
        if !FileManager.default.fileExists(atPath: cache) {
            for path in [prod, cache] { try DatabaseFile.remove(path) }
            try FileManager.default.copyItem(atPath: base, toPath: prod)
            _ = try ANNBuild.run(dbPath: prod, indexPath: index, metaPath: index + ".json", options: .init(nlist: nlist), logger: logger)
            _ = try SimilarityPrecompute.run(dbPath: prod, indexPath: index, outPath: cache, options: .init(selection: .reset), logger: logger)
        }
        var options = ServeOptions(prodPath: prod, indexPath: index, metaPath: index + ".json", cachePath: cache,
                                   modelDirectory: ModelFiles.resolveDirectory(modelDir))
        options.port = 0
        let server = try ReadServer(options: options, logger: logger)
        let (addresses, continuation) = AsyncStream.makeStream(of: String.self)
        let serving = Task { try await server.run { continuation.yield($0) } }
        var iterator = addresses.makeAsyncIterator()
        guard let address = await iterator.next() else { throw ValidationError("serve did not start") }

        let keys = try await DatabaseFile.open(prod, role: "prod DB", access: .readOnly).read { (db: Database) throws -> [String] in
            try Row.fetchAll(db, sql: "SELECT instance_domain, video_id FROM video_embeddings ORDER BY random() LIMIT 2000")
                .map { "http://\(address)/api/v1/videos/\($0[0] as String)/\($0[1] as String)/similar?count=10" }
        }
        let queries = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: texts))).prefix(500).map {
            "http://\(address)/api/v1/search/similar?count=10&text="
                + ($0.split(separator: " ").prefix(8).joined(separator: " ").addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        }
        print("serve on \(videos) videos, \(clients) clients, \(data.runs) runs of \(seconds) s each, loopback HTTP")
        for (label, urls) in [("/similar", keys), ("/search/similar", queries)]
        where endpoints == "both" || (endpoints == "similar") == (label == "/similar") {
            var rates: [Double] = [], p50s: [Double] = [], p99s: [Double] = []
            for run in 1...data.runs {
                let (rate, p50, p99, failed) = try await Self.load(urls, clients: clients, seconds: seconds)
                print(String(format: "run %d: %@ %.0f req/s, p50 %.1f ms, p99 %.1f ms, %d failed", run, label, rate, p50, p99, failed))
                rates.append(rate)
                p50s.append(p50)
                p99s.append(p99)
            }
            Measure.report("serve \(label) throughput", rates, unit: "req/s")
            Measure.report("serve \(label) p50 latency", p50s, unit: "ms")
            Measure.report("serve \(label) p99 latency", p99s, unit: "ms")
        }
        // A graceful stop: the clients' keep-alive connections close, then `run` returns.
        await server.stop()
        try await serving.value
    }

    /// `clients` loops, each asking its next URL when the last answer arrived, for `seconds`.
    static func load(_ urls: [String], clients: Int, seconds: Double) async throws -> (rate: Double, p50: Double, p99: Double, failed: Int) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = clients
        let session = URLSession(configuration: configuration)
        let tally = Tally()
        let start = ContinuousClock.now, end = start + .milliseconds(Int(seconds * 1000))
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var next = client
                    while ContinuousClock.now < end {
                        let url = URL(string: urls[next % urls.count])!
                        next += clients
                        let sent = ContinuousClock.now
                        let status = (try? await session.data(from: url)).flatMap { ($0.1 as? HTTPURLResponse)?.statusCode } ?? 0
                        let elapsed = sent.duration(to: .now)
                        if status != 200 { tally.failed.add(1, ordering: .relaxed) }
                        tally.latencies.withLock { $0.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15) }
                    }
                }
            }
        }
        let wall = start.duration(to: .now)
        let sorted = tally.latencies.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return (0, 0, 0, tally.failed.load(ordering: .relaxed)) }
        let at = { (q: Double) in sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        return (Double(sorted.count) / (Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18), at(0.5), at(0.99),
                tally.failed.load(ordering: .relaxed))
    }

    private final class Tally: Sendable {
        let latencies = Mutex<[Double]>([])
        let failed = Atomic<Int>(0)
    }
}
