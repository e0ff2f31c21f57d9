import Foundation
import HTTPServing
import Logging
import PeerTubeUpdater

/// `peertube-updater serve`: the read API over HTTP (`HTTPService`, Hummingbird on SwiftNIO with the
/// package's request limits), with the generation watcher beside it.
///
/// Lifecycle: `init` opens the first generation and loads the model; `run` binds, watches for new
/// generations and serves until `stop`, SIGTERM/SIGINT (with `stopOnSignals`) or cancellation, then
/// lets requests in flight finish. Answers are computed off the event loops (SQLite reads, FAISS and
/// the model block; the model off the task pool too), each from the generation current when its
/// request arrived.
public final class ReadServer: Sendable {
    public let api: ReadAPI
    private let watcher: GenerationWatcher
    private let service: HTTPService
    private let logger: Logger

    /// Opens prod, cache and index (switching prod and cache to WAL once, if needed) and loads the model.
    ///
    /// - Throws: `StorageError`, `ServeError`, `ModelError`, `FaissError`.
    public init(options: ServeOptions, logger: Logger) throws {
        for (path, role) in [(options.prodPath, "prod DB"), (options.cachePath, "similarity cache")]
        where FileManager.default.fileExists(atPath: path) {
            if try ServedGeneration.prepareForReaders(path, role: role) {
                logger.info("serve: switched \(role) \(path) to WAL mode (readers and the worker no longer block each other)")
            }
        }
        watcher = try GenerationWatcher(options: options, logger: logger)
        let embedder = try options.modelDirectory.map { try QueryEmbedder(modelDirectory: $0, threads: options.modelThreads) }
        let api = ReadAPI(options: options, watcher: watcher, embedder: embedder, logger: logger)
        self.api = api
        service = HTTPService(host: options.address, port: Int(options.port), limits: options.limits, allow: ReadAPI.allowedMethods,
                              logger: logger) { head in await Self.answer(head, from: api) }
        self.logger = logger
    }

    /// Serves until stopped. `onListening` gets the bound address (`host:port`) once requests are taken.
    ///
    /// - Throws: a socket error when the address cannot be bound.
    public func run(stopOnSignals: Bool = false, onListening: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        let watching = Task { await watcher.run() }
        defer { watching.cancel() }
        let logger = self.logger, cap = api.options.limits.effectiveMaxConnections
        try await service.run(stopOnSignals: stopOnSignals) { address in
            logger.info("serve: listening on http://\(address) (at most \(cap) connections)")
            onListening(address)
        }
        logger.info("serve: stopped")
    }

    /// Starts the graceful shutdown; `run` returns once requests in flight have finished.
    public func stop() async { await service.stop() }

    /// The API's answer with its headers. Lookups (a few indexed reads) are answered on the request's
    /// task: a hop to another thread cost more than the read (`updater-bench serve`, 64 clients: p99
    /// 116 → 75 ms). Text search runs the model, which would hold the task pool's few threads, so it
    /// runs on the global dispatch pool.
    private static func answer(_ head: HTTPRequestHead, from api: ReadAPI) async -> HTTPAnswer {
        let respond: @Sendable () -> ReadAPI.Response = { api.respond(method: head.method, path: head.path, query: head.query) }
        let response = ReadAPI.runsModel(path: head.path)
            ? await withCheckedContinuation { continuation in DispatchQueue.global().async { continuation.resume(returning: respond()) } }
            : respond()
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")] + response.headers
        if let generation = response.generation { headers.append(("X-Serve-Generation", String(generation))) }
        return HTTPAnswer(status: response.status, headers: headers, body: response.body)
    }
}
