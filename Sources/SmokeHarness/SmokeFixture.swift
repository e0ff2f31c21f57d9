import Foundation
import Logging
import PeerTubeSimulator
import PeerTubeUpdater

/// The smoke fixture, built once for the suite: the source DB, the hosts, the pruned mini-prod and
/// its before-snapshot, the whitelist server and the simulated federation, all inside the run
/// directory.
public final class SmokeFixture: Sendable {
    public let options: SmokeOptions
    public let device: ComputeDevice
    public let run: RunDirectory
    public let logger: Logger
    public let worker: WorkerProcess
    public let modelDirectory: String
    public let sourceDB: String
    public let sourceIsEmbeddedDefault: Bool
    public let mini: MiniProd.Summary
    /// The main run's layout: the run directory itself.
    public let main: WorkerLayout
    public let beforeSnapshot: String
    public let mergeRulesPath: String
    public let rules: MergeRuleSet
    public let whitelist: WhitelistServer
    public let whitelistJSON: String
    public let whitelistLog: String
    public let federation: SimulatedFederation
    public let federationAddress: String
    /// Each phase's time limit, derived from this fixture's sizes.
    public let limits: SmokeTimeLimits

    // MARK: - Building

    /// - Throws: `SmokeError`, `GPUUnavailable`, `ModelError`, `ServiceControlError` for what the session
    ///   refuses before any work; what building the source DB and the mini-prod throws.
    /// `corpus`: the description at `SmokeCorpus.defaultPath` unless given; `children` records the
    /// processes the fixture starts.
    public static func start(options: SmokeOptions, run: RunDirectory, repositoryRoot: String, corpus given: SmokeCorpus? = nil,
                             children: ChildProcesses = ChildProcesses()) async throws -> SmokeFixture {
        func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : repositoryRoot + "/" + path }
        let corpus = try given ?? SmokeCorpus(path: absolute(SmokeCorpus.defaultPath))
        let sink = try LineLogHandler.Sink(stream: FileHandle.standardError, filePath: try run.path("smoke.log"))
        let logger = Logger(label: "smoke") { _ in LineLogHandler(sink: sink) }
        let device = options.resolvedDevice
        logger.info("smoke: run \(run.runID) in \(run.url.path), mode \(device.rawValue)")
        // Refusals first, before anything slow.
        if device == .gpu { try GPUStages.require() }
        if options.useSystemctl {
            var settings = ServiceControl.Settings()
            settings.enabled = true
            settings.name = options.serviceName ?? UpdaterDefaults().serviceName
            _ = try ServiceControl(settings: settings)
        }
        let worker = try WorkerProcess.locate(children: children)
        let modelDirectory = absolute(ModelFiles.resolveDirectory(nil))
        _ = try ModelFiles(directory: modelDirectory)

        // 1. Source DB: the configured one if present, else the embedded default.
        let configured = options.sourceDB.map(absolute) ?? absolute(UpdaterDefaults().prodDB)
        let sourceDB: String, embedded: Bool
        if FileManager.default.fileExists(atPath: configured) {
            (sourceDB, embedded) = (configured, false)
        } else if options.sourceDB != nil {
            throw SmokeError("--source-db \(configured) does not exist")
        } else {
            // Kept in the repository's tmp/ whatever --workdir says: it is built once per corpus.
            sourceDB = try await EmbeddedDefaultSource.path(for: corpus, cacheDirectory: absolute(EmbeddedDefaultSource.cacheDirectory),
                                                            modelDirectory: modelDirectory, logger: logger)
            embedded = true
        }
        logger.info("smoke: source DB \(sourceDB)\(embedded ? " (embedded default)" : "")")

        // 2–3. Hosts, mini-prod, before-snapshot.
        let wanted = try SmokeCorpus.hosts(fromInstancesFile: absolute(options.instancesJSON))
        let main = WorkerLayout(folder: run.url.path)
        for path in main.writtenPaths { try run.check(path) }
        let mini = try MiniProd.build(from: sourceDB, to: main.prodDB, wantedHosts: wanted, maxInstances: options.maxInstances,
                                      maxChannels: options.maxChannels, maxVideos: options.seedVideosLimit)
        logger.info("smoke: mini-prod \(mini.hosts.joined(separator: ", ")): \(mini.channels) channels, \(mini.videos) videos, \(mini.embeddings) embeddings")
        guard options.nlist <= mini.embeddings else {
            throw SmokeError("--nlist \(options.nlist) is larger than the \(mini.embeddings) embeddings of the mini-prod; use --nlist \(max(1, mini.embeddings / 39)) or raise --seed-videos-limit/--max-instances")
        }
        let beforeSnapshot = try run.path("mini-prod.before.db")
        try FileCopy.copy(main.prodDB, to: beforeSnapshot)
        let mergeRulesPath = try run.path("merge_rules.json")
        try MergeRuleSet.builtInJSON.write(to: URL(fileURLWithPath: mergeRulesPath))
        let rules = try MergeRuleSet.load(from: mergeRulesPath)

        // 4. Whitelist server and the simulated federation (today's view: more than the mini-prod holds).
        let whitelistJSON = try run.path("whitelist.json"), whitelistLog = try run.path("whitelist-http.log")
        let whitelist = try await WhitelistServer.start(hosts: mini.hosts, jsonPath: whitelistJSON, logPath: whitelistLog)
        let federation = try SimulatedFederation(api: SimAPI(corpus: corpus.corpus), logPath: try run.path("federation-http.log"))
        let address: String
        do { address = try await federation.start() } catch {
            await whitelist.stop()
            throw error
        }
        logger.info("smoke: whitelist \(whitelist.url); federation \(address) serving \(corpus.corpus.instances.map(\.host).joined(separator: ", "))")
        return SmokeFixture(options: options, device: device, run: run, logger: logger, worker: worker, modelDirectory: modelDirectory,
                            sourceDB: sourceDB, sourceIsEmbeddedDefault: embedded, mini: mini, main: main,
                            beforeSnapshot: beforeSnapshot, mergeRulesPath: mergeRulesPath, rules: rules, whitelist: whitelist,
                            whitelistJSON: whitelistJSON, whitelistLog: whitelistLog, federation: federation, federationAddress: address,
                            limits: SmokeTimeLimits(factor: options.timeLimitFactor, corpusVideos: corpus.videoCount, miniProdVectors: mini.embeddings))
    }

    private init(options: SmokeOptions, device: ComputeDevice, run: RunDirectory, logger: Logger, worker: WorkerProcess, modelDirectory: String,
                 sourceDB: String, sourceIsEmbeddedDefault: Bool, mini: MiniProd.Summary, main: WorkerLayout, beforeSnapshot: String,
                 mergeRulesPath: String, rules: MergeRuleSet, whitelist: WhitelistServer, whitelistJSON: String, whitelistLog: String,
                 federation: SimulatedFederation, federationAddress: String, limits: SmokeTimeLimits) {
        self.options = options
        self.device = device
        self.run = run
        self.logger = logger
        self.worker = worker
        self.modelDirectory = modelDirectory
        self.sourceDB = sourceDB
        self.sourceIsEmbeddedDefault = sourceIsEmbeddedDefault
        self.mini = mini
        self.main = main
        self.beforeSnapshot = beforeSnapshot
        self.mergeRulesPath = mergeRulesPath
        self.rules = rules
        self.whitelist = whitelist
        self.whitelistJSON = whitelistJSON
        self.whitelistLog = whitelistLog
        self.federation = federation
        self.federationAddress = federationAddress
        self.limits = limits
    }

    /// Runs `phase` within its time limit (`SmokeTimeLimits.bounded`): past it, every worker and
    /// `serve` this fixture started is killed and `PhaseTimeout` thrown.
    ///
    /// - Throws: `PhaseTimeout`, or what `body` throws.
    public func bounded<T: Sendable>(_ phase: SmokePhase, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await limits.bounded(phase, children: worker.children, body)
    }

    // MARK: - Using

    public func stop() async {
        await whitelist.stop()
        await federation.stop()
    }

    /// A fresh layout in `name/` whose prod is a copy of the before-snapshot.
    public func freshLayout(_ name: String) throws -> WorkerLayout {
        let folder = try run.path(name)
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let layout = WorkerLayout(folder: folder)
        for path in layout.writtenPaths { try run.check(path) }
        try FileCopy.copy(beforeSnapshot, to: layout.prodDB)
        return layout
    }

    /// The worker's command line for `layout`, with the suite's caps (the spec's test caps), routed to
    /// the simulated federation, plus `extra` flags.
    public func workerArguments(_ layout: WorkerLayout, extra: [String] = [], mergeRules: String? = nil) -> [String] {
        var arguments = layout.arguments + [
            "--\(device.rawValue)",
            "--merge-rules", mergeRules ?? mergeRulesPath,
            "--whitelist-url", whitelist.url,
            "--model-dir", modelDirectory,
            "--concurrency", String(options.concurrency),
            "--timeout-ms", String(options.timeoutMs),
            "--max-retries", String(options.maxRetries),
            "--max-instances", String(options.maxInstances),
            "--max-channels", String(options.maxChannels),
            "--max-videos-pages", String(options.maxVideosPages),
            "--videos-stop-after-full-pages", String(options.videosStopAfterFullPages),
            "--nlist", String(options.nlist),
            "--route", "*=\(federationAddress)", "--http-only",
        ]
        if options.useSystemctl {
            arguments += ["--use-systemctl", "--service-name", options.serviceName ?? UpdaterDefaults().serviceName]
        } else if !extra.contains("--use-systemctl") {
            arguments.append("--skip-systemctl")
        }
        return arguments + extra
    }
}
