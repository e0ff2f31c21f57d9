import FlyingFox
import Foundation
import HTTPServing
import Logging
import PeerTubeUpdater

/// `peertube-updater serve`: the read API over HTTP (FlyingFox, the package's one server library,
/// which the simulated federation uses too), with the generation watcher beside it.
///
/// Lifecycle: `start` opens the first generation, binds and begins watching; `run` serves until the
/// task is cancelled or `stop` is called; `stop` ends both. Requests are answered off the
/// cooperative pool (SQLite reads, FAISS and the model block), each from the generation current when
/// it arrived.
public final class ReadServer: Sendable {
    public let api: ReadAPI
    private let server: HTTPServer
    private let watcher: GenerationWatcher
    private let logger: Logger

    /// Opens prod, cache and index (switching prod and cache to WAL once, if needed) and loads the model.
    ///
    /// - Throws: `StorageError`, `ServeError`, `ModelError`, `FaissError`, or a socket error when the
    ///   address cannot be bound.
    public init(options: ServeOptions, logger: Logger) throws {
        for (path, role) in [(options.prodPath, "prod DB"), (options.cachePath, "similarity cache")]
        where FileManager.default.fileExists(atPath: path) {
            if try ServedGeneration.prepareForReaders(path, role: role) {
                logger.info("serve: switched \(role) \(path) to WAL mode (readers and the worker no longer block each other)")
            }
        }
        watcher = try GenerationWatcher(options: options, logger: logger)
        let embedder = try options.modelDirectory.map { try QueryEmbedder(modelDirectory: $0, threads: options.modelThreads) }
        api = ReadAPI(options: options, watcher: watcher, embedder: embedder, logger: logger)
        server = try HTTPServer.noDelay(ip4: options.address, port: options.port, timeout: 30)
        self.logger = logger
    }

    /// Serves until cancelled. `onListening` gets the bound address (`host:port`) once requests are taken.
    ///
    /// - Throws: a socket error when the address cannot be bound.
    public func run(onListening: @Sendable (String) -> Void = { _ in }) async throws {
        let api = self.api
        await server.appendRoute("*") { request in
            let query = Dictionary(request.query.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            let method = request.method.rawValue, path = request.target.path(percentEncoded: true)
            let response = await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(returning: api.respond(method: method, path: path, query: query)) }
            }
            var headers: HTTPHeaders = [.contentType: "application/json"]
            if let generation = response.generation { headers[HTTPHeader("X-Serve-Generation")] = String(generation) }
            return HTTPResponse(statusCode: HTTPStatusCode(response.status, phrase: ""), headers: headers,
                                body: method == "HEAD" ? Data() : response.body)
        }
        let watching = Task { await watcher.run() }
        defer { watching.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.server.run() }
            try await server.waitUntilListening(timeout: 60)
            if case .ip4(let ip, let port) = await server.listeningAddress {
                let address = "\(ip):\(port)"
                logger.info("serve: listening on http://\(address)")
                onListening(address)
            }
            try await group.next()
        }
    }

    public func stop() async { await server.stop(timeout: 3) }
}
