import Foundation
import GRDB
import Logging
import PeerTubeSimulator
import PeerTubeUpdater

/// The embedded default source DB: prod as of the corpus's yesterday, made by the updater's own
/// stages (crawl of the simulator's yesterday view, embeddings, merge into an empty prod, popularity),
/// so it is exactly what a real deployment would hold. Deterministic for a given corpus description;
/// built once and kept under the smoke workdir, keyed by the description's hash.
public enum EmbeddedDefaultSource {
    /// Relative to the repository root.
    public static let cacheDirectory = "tmp/orchestrator-smoke/embedded-default"

    public static func path(for corpus: SmokeCorpus, cacheDirectory: String, modelDirectory: String,
                            logger: Logger) async throws -> String {
        let target = "\(cacheDirectory)/source-\(corpus.key).db"
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        // Test processes may ask at once: one builds, the others wait and reuse.
        let lockFD = open("\(cacheDirectory)/.build.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw SmokeError("cannot open \(cacheDirectory)/.build.lock") }
        defer { close(lockFD) }
        flock(lockFD, LOCK_EX)
        defer { flock(lockFD, LOCK_UN) }
        if FileManager.default.fileExists(atPath: target) { return target }

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
        let embedder = try SentenceEmbedder(modelDirectory: modelDirectory, device: .cpu)
        let embedded = try EmbeddingStage.run(dbPath: staging, embedder: embedder, logger: logger)
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
