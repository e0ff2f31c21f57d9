import Foundation
import GRDB
import Logging
import PeerTubeSimulator
import PeerTubeUpdater
import Synchronization

/// The embedded default source DB: prod as of the corpus's yesterday, made by the updater's own
/// stages (crawl of the simulator's yesterday view, embeddings, merge into an empty prod, popularity),
/// so it is exactly what a real deployment would hold. Deterministic for a given corpus description;
/// built once and kept under the smoke workdir, keyed by the description's hash.
public enum EmbeddedDefaultSource {
    /// Relative to the repository root.
    public static let cacheDirectory = "tmp/orchestrator-smoke/embedded-default"

    /// Builds in flight in this process, by target path: concurrent callers share one build.
    private static let inFlight = Mutex<[String: Task<String, Error>]>([:])

    public static func path(for corpus: SmokeCorpus, cacheDirectory: String, modelDirectory: String,
                            logger: Logger) async throws -> String {
        let target = "\(cacheDirectory)/source-\(corpus.key).db"
        if FileManager.default.fileExists(atPath: target) { return target }
        let task = inFlight.withLock { tasks in
            if let task = tasks[target] { return task }
            let task = Task { try await buildOnce(corpus, target: target, cacheDirectory: cacheDirectory,
                                                  modelDirectory: modelDirectory, logger: logger) }
            tasks[target] = task
            return task
        }
        return try await task.value
    }

    /// Other processes (parallel test runs) may build at the same time: one holds the build lock,
    /// the others poll for it without blocking a thread of the concurrency pool (a blocking wait
    /// there can starve the very tasks the builder awaits).
    private static func buildOnce(_ corpus: SmokeCorpus, target: String, cacheDirectory: String,
                                  modelDirectory: String, logger: Logger) async throws -> String {
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        let lockFD = open("\(cacheDirectory)/.build.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw SmokeError("cannot open \(cacheDirectory)/.build.lock") }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX | LOCK_NB) != 0 { try await Task.sleep(for: .milliseconds(200)) }
        defer { flock(lockFD, LOCK_UN) }
        if FileManager.default.fileExists(atPath: target) { return target }
        return try await build(corpus, target: target, cacheDirectory: cacheDirectory, modelDirectory: modelDirectory, logger: logger)
    }

    private static func build(_ corpus: SmokeCorpus, target: String, cacheDirectory: String,
                              modelDirectory: String, logger: Logger) async throws -> String {
        let clock = ContinuousClock.now
        logger.info("smoke: building the embedded default source DB from \(corpus.path) (once per corpus)")
        let scratch = "\(cacheDirectory)/build-\(getpid())"
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let staging = "\(scratch)/staging.db", prod = "\(scratch)/source.db"

        let federation = try SimulatedFederation(api: SimAPI(corpus: corpus.corpus, viewTime: corpus.corpus.snapshotAt))
        let address = try await federation.start()
        do {
            let client = PoliteHTTPClient(options: .simulator(address: address))
            defer { client.shutdown() }
            let options = CrawlOptions()
            let quiet = Logger(label: "smoke-source") { _ in SwiftLogNoOpLogHandler() }
            _ = try await InstancesCrawl.run(stagingPath: staging, whitelistURL: "http://\(address)/api/v1/instances/hosts",
                                             client: client, options: options, logger: quiet)
            _ = try await ChannelsCrawl.run(stagingPath: staging, client: client, options: options, logger: quiet)
            _ = try await VideosCrawl.run(stagingPath: staging, client: client, options: options, logger: quiet)
            _ = try await ChannelsVideosCountCrawl.run(stagingPath: staging, client: client, options: options, logger: quiet)
            await federation.stop()
        } catch {
            await federation.stop()
            throw error
        }
        // Seconds of synchronous model work: on a thread of its own, not one of the concurrency pool's
        // (two here), which the test runner's other tasks need meanwhile.
        let embedded = try await offPool {
            try EmbeddingStage.run(dbPath: staging, embedder: try SentenceEmbedder(modelDirectory: modelDirectory, device: .cpu),
                                   logger: logger)
        }
        let queue = try DatabaseFile.open(prod, role: "source DB", access: .create)
        try await queue.write { db in
            try db.execute(sql: Schema.crawlerTables)
            try db.execute(sql: Schema.videoEmbeddingsTable)
            try PopularityRecompute.ensureColumn(db)
        }
        _ = try StagingMerge.run(prodPath: prod, stagingPath: staging, rules: .builtIn, logger: logger)
        let snapshot = Date(timeIntervalSince1970: Double(corpus.corpus.snapshotAt) / 1000)
        _ = try PopularityRecompute.run(dbPath: prod, selection: .reset, now: snapshot, logger: logger)
        try await queue.writeWithoutTransaction { db in try db.execute(sql: "VACUUM") }
        try queue.close()
        guard rename(prod, target) == 0 else { throw SmokeError("cannot move the built source DB to \(target)") }
        logger.info("smoke: embedded default source DB ready: \(target) (\(embedded.embedded) videos embedded, \(clock.elapsedMilliseconds)ms)")
        return target
    }
}

/// Runs blocking work on a Dispatch thread and awaits it without holding a concurrency-pool thread.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
