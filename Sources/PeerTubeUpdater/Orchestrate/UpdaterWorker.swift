import Foundation
import Logging
import Synchronization

/// The daily updater run (stages and guarantees in ARCHITECTURE.md): every stage a library call, in order, under the single-run
/// lock. Prod changes only in the merge transaction; the index and its meta are published together
/// by one rename, the similarity cache by another. A failure at any point therefore leaves prod either as it was or fully
/// merged, and the last published artifacts in place; the lock is released and a stopped service is
/// started again on every exit path, signals included.
public enum UpdaterWorker {
    public struct Summary: Sendable {
        public var stagingDeltas: [String: Int] = [:]
        public var merge: [TableMergeResult] = []
        /// With `--refresh`: what the refresh re-read and found gone.
        public var refresh: RefreshCrawl.Summary?
        /// With `--refresh`: each instance's health, and those unreachable past the grace period.
        public var instanceHealth: InstanceHealth.Summary?
        public var embeddings: EmbeddingStage.Result?
        public var ann: ANNMeta?
        public var similarity: SimilarityPrecompute.Result?
        public var totalMs = 0
    }

    /// - Throws: the first stage's error (the run stops there; prod is as before the merge or fully merged),
    ///   `RunLockError` when another run holds the lock, and the refusals checked before any work
    ///   (`MergeRuleError`, `StorageError`, `ModelError`, `GPUUnavailable`, `ServiceControlError`).
    public static func run(_ options: WorkerOptions, logger: Logger) async throws -> Summary {
        let clock = ContinuousClock.now
        logger.info("worker: start prod=\(options.prodDB) staging=\(options.stagingDB) device=\(options.device.rawValue) nlist=\(options.nlist)")
        // Everything that can be refused is refused before the lock, the crawl or any write.
        let rules = try options.mergeRulesPath.map(MergeRuleSet.load(from:)) ?? (options.refresh == nil ? .builtIn : .refresh)
        if options.refresh != nil, let videos = rules.rules.first(where: { $0.table == "videos" }), videos.strategy == .insertOnly {
            logger.warning("worker: --refresh with \(rules.source), whose videos rule is INSERT_ONLY: re-read counts and titles will not reach prod (gone videos are still removed)")
        }
        _ = try DatabaseFile.open(options.prodDB, role: "prod DB", access: .readOnly)
        guard options.nlist > 0 else { throw ANNError.badParameters("--nlist must be > 0") }
        let embedder = try SentenceEmbedder(modelDirectory: options.modelDirectory, device: options.device, threads: options.embeddingThreads,
                                            precision: options.gpuPrecision)
        let service = options.service.enabled ? try ServiceControl(settings: options.service) : nil

        for point in options.injection.failAt { FaultPlan.fail(at: point) }
        let lock = try RunLock.acquire(at: options.lockFile, guarding: options.prodDB, logger: logger)
        let guardRail = ExitGuard(lock: lock, service: service, logger: logger)
        let signals = SignalWatch(guardRail)
        defer {
            signals.cancel()
            guardRail.finish()
        }
        do {
            var summary = try await stages(options, rules: rules, embedder: embedder, guardRail: guardRail, logger: logger)
            try guardRail.restartService()
            summary.totalMs = clock.elapsedMilliseconds
            WorkerLog.completed(summary.totalMs, logger: logger)
            return summary
        } catch {
            // Start the service first: a failed run must not leave the API down.
            try? guardRail.restartService()
            logger.error("worker failed after \(clock.elapsedMilliseconds)ms: \(error)")
            throw error
        }
    }

    private static func stages(_ options: WorkerOptions, rules: MergeRuleSet, embedder: SentenceEmbedder,
                               guardRail: ExitGuard, logger: Logger) async throws -> Summary {
        var summary = Summary()
        let staging = options.stagingDB, prod = options.prodDB
        let resuming = options.resumeStaging && FileManager.default.fileExists(atPath: staging)
        try WorkerLog.stage(.stagingInit, resuming ? "resume \(staging)" : "recreate \(staging) seed-from \(prod)", logger: logger) {
            if resuming {
                _ = try StagingDatabase.openOrCreate(at: staging)
                logger.info("staging: kept \(staging) (--resume-staging); crawl progress continues")
            } else {
                let seeded = try StagingDatabase.seed(try StagingDatabase.recreate(at: staging), fromProdAt: prod)
                logger.info("staging: seeded \(seeded.instances) instances and \(seeded.channels) channels from prod")
            }
        }

        var crawl = options.crawl
        crawl.resume = resuming
        crawl.existingDB = prod
        crawl.refreshRun = options.refresh != nil
        let client = PoliteHTTPClient(options: options.http)
        defer { client.shutdown() }
        try await WorkerLog.stage(.instancesCrawl, "whitelist \(options.whitelistURL)", logger: logger) {
            _ = try await InstancesCrawl.run(stagingPath: staging, whitelistURL: options.whitelistURL, client: client, options: crawl, logger: logger)
        }
        if let plan = options.refresh {
            let waiting = try InstanceHealth.deferRetries(stagingPath: staging, prodPath: prod, now: CrawlStore.nowMs(),
                                                          graceDays: plan.instanceGraceDays)
            if !waiting.isEmpty {
                logger.info("instance health: \(waiting.count) failing instance(s) not due for a retry this run (backoff): \(waiting.joined(separator: ", ").escapedForLog)")
            }
        }
        if options.skipLocalDead {
            try WorkerLog.stage(.skipLocalDead, logger: logger) {
                let removed = try StagingDatabase.removeLocallyDeadHosts(stagingPath: staging, prodPath: prod)
                logger.info("skip-local-dead: removed \(removed.count) host(s) whose prod health is not ok\(removed.isEmpty ? "" : ": " + removed.joined(separator: ", "))")
            }
        }
        try await WorkerLog.stage(.channelsCrawl, "max-instances \(crawl.maxInstances) max-channels \(crawl.maxChannels) new-only", logger: logger) {
            _ = try await ChannelsCrawl.run(stagingPath: staging, client: client, options: crawl, logger: logger)
        }
        try await WorkerLog.stage(.videosCrawl, "existing-db \(prod) max-videos-pages \(crawl.maxVideosPages) stop-after-full-pages \(crawl.stopAfterFullPages)", logger: logger) {
            _ = try await VideosCrawl.run(stagingPath: staging, client: client, options: crawl, logger: logger)
        }
        try await WorkerLog.stage(.channelsVideosCount, logger: logger) {
            _ = try await ChannelsVideosCountCrawl.run(stagingPath: staging, client: client, options: crawl, logger: logger)
        }
        let reach = try CrawlReach.measure(stagingPath: staging, maxInstances: crawl.maxInstances)
        guard reach.share >= options.minReachedShare else { throw OutageGateError(reach: reach, minimumShare: options.minReachedShare) }
        logger.info("outage gate: the crawl \(reach); required \(Int((options.minReachedShare * 100).rounded()))%")
        if let plan = options.refresh {
            // After the gate: a run that reached too few instances refreshes nothing either.
            summary.refresh = try await WorkerLog.stage(.refreshCrawl, "budget \(plan.perHostBudget) per instance", logger: logger) {
                try await RefreshCrawl.run(stagingPath: staging, prodPath: prod, client: client, crawl: crawl, plan: plan, logger: logger)
            }
            summary.instanceHealth = try InstanceHealth.run(stagingPath: staging, prodPath: prod, now: summary.refresh?.readAt ?? CrawlStore.nowMs(),
                                                            graceDays: plan.instanceGraceDays, logger: logger)
        }
        summary.embeddings = try WorkerLog.stage(.embeddingsBuild, "device=\(embedder.device.embeddingsMarker)", logger: logger) {
            try EmbeddingStage.run(dbPath: staging, embedder: embedder,
                                   options: .init(batchSize: options.embeddingBatchSize, unchangedIn: options.refresh == nil ? nil : prod),
                                   logger: logger)
        }
        if options.injection.replaceEmbedding {
            let key = try ReplacementEmbedding.inject(stagingPath: staging, prodPath: prod)
            logger.info("test: injected a replacement embedding for \(key.map { "\($0.videoID)@\($0.host)" } ?? "nothing (prod has no embeddings)")")
        }
        summary.stagingDeltas = try StagingMerge.newRowCounts(prodPath: prod, stagingPath: staging, rules: rules)
        let deltas = rules.rules.map { "\($0.table)=+\(summary.stagingDeltas[$0.table] ?? 0)" }.joined(separator: " ")
        logger.info("staging deltas (new keys vs prod): \(deltas)")
        try FaultPlan.reach(.beforeMerge)

        try guardRail.stopService()
        summary.merge = try WorkerLog.stage(.mergeDB, "rules \(rules.source)", logger: logger) {
            try StagingMerge.run(prodPath: prod, stagingPath: staging, rules: rules, logger: logger)
        }
        try WorkerLog.stage(.popularityRecompute, summary.refresh == nil ? "incremental" : "incremental and re-read rows", logger: logger) {
            _ = try PopularityRecompute.run(dbPath: prod, selection: .incremental, readSince: summary.refresh?.readAt, logger: logger)
        }
        summary.ann = try WorkerLog.stage(.annBuild, "nlist \(options.nlist) mode=\(options.device.annMarker)", logger: logger) {
            var ann = ANNBuild.Options(nlist: options.nlist, device: options.device, lowerNlistToFit: true)
            ann.precision = options.gpuPrecision
            return try ANNBuild.run(dbPath: prod, indexPath: options.indexPath, metaPath: options.indexMetaPath, options: ann, logger: logger).meta
        }
        let search = options.device == .gpu ? "exact on the GPU" : "nprobe \(options.similarityNprobe)"
        summary.similarity = try WorkerLog.stage(.similarityPrecompute, "incremental top-k \(options.similarityTopK) \(search)", logger: logger) {
            var similarity = SimilarityPrecompute.Options(selection: .incremental, topK: options.similarityTopK, nprobe: options.similarityNprobe,
                                                          device: options.device)
            similarity.indexMetaPath = options.indexMetaPath
            return try SimilarityPrecompute.run(dbPath: prod, indexPath: options.indexPath, outPath: options.similarityDB,
                                                options: similarity, logger: logger)
        }
        return summary
    }
}

// MARK: - ExitGuard

/// What must happen however the run ends: the stopped service started again, the lock released.
/// Shared with the signal handler, hence the mutex; each step runs at most once.
final class ExitGuard: Sendable {
    private struct State {
        var lock: RunLock?
        var serviceStopped = false
    }
    private let state: Mutex<State>
    private let service: ServiceControl?
    private let logger: Logger

    init(lock: RunLock, service: ServiceControl?, logger: Logger) {
        state = Mutex(State(lock: lock))
        self.service = service
        self.logger = logger
    }

    /// Stops the service (when enabled) as its own stage; from then on it must be started again.
    func stopService() throws {
        guard let service else { return }
        try WorkerLog.stage(.serviceStop, service.settings.name, logger: logger) {
            // Marked before the call: a stop that half-happened must still be undone.
            state.withLock { $0.serviceStopped = true }
            try service.stop(logger: logger)
        }
    }

    /// Starts the service again if this run stopped it. Safe to call more than once.
    func restartService() throws {
        guard let service, state.withLock({ state in
            defer { state.serviceStopped = false }
            return state.serviceStopped
        }) else { return }
        try WorkerLog.stage(.serviceStart, service.settings.name, logger: logger) { try service.start(logger: logger) }
    }

    /// Releases the lock (the last step of every exit path).
    func finish() {
        state.withLock { state in
            state.lock?.release()
            state.lock = nil
        }
    }
}

// MARK: - SignalWatch

/// SIGTERM (systemctl stop of the timer unit) and SIGINT end the run cleanly: service started again,
/// lock released, then exit 128+signal. A merge cut short rolls back by SQLite's journal.
final class SignalWatch: Sendable {
    private let sources: Mutex<[DispatchSourceSignal]>

    init(_ guardRail: ExitGuard) {
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("peertube-updater: received signal \(sig), stopping\n".utf8))
                try? guardRail.restartService()
                guardRail.finish()
                exit(128 + sig)
            }
            source.resume()
            sources.append(source)
        }
        self.sources = Mutex(sources)
    }

    func cancel() {
        sources.withLock { list in
            list.forEach { $0.cancel() }
            list.removeAll()
        }
        for sig in [SIGTERM, SIGINT] { signal(sig, SIG_DFL) }
    }
}
