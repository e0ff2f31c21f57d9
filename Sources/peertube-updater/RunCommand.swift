import ArgumentParser
import Foundation
import Logging
import PeerTubeUpdater
import SmokeHarness

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The daily updater worker: crawl, embed, merge, popularity, ANN index, similar videos.",
        discussion: """
            Stages, in order, under the single-run lock: staging init + seed from prod, crawl instances, \
            [skip-local-dead], crawl channels, crawl videos, crawl channels-videos-count, embeddings, \
            [service stop], merge (one transaction: the only change to prod), popularity (incremental), ANN \
            build (published by rename), similarity (incremental, published by rename), [service start].

            The log (--logs, and stdout) has `run: <stage>` / `done: <stage> (<N>ms)` per stage, `device=` on \
            embeddings, `mode=` on the ANN build, the staging deltas, and `worker completed in <N>ms`. Exit \
            status 0 only on full success; otherwise one error line on stderr. A failure before the merge \
            leaves prod untouched; after it, prod is fully merged and the previous index and cache stay in use.

            Defaults come from PEERTUBE_UPDATER_* environment variables (see the top-level help), then flags.
            """
    )

    @OptionGroup var prod: ProdOptions
    @OptionGroup var staging: StagingOptions
    @Option(name: .customLong("index-path"), help: ArgumentHelp("The published ANN index. Default: <data>/whitelist-video-embeddings.faiss.", valueName: "path"))
    var indexPath: String?
    @Option(name: [.customLong("index-meta-path"), .customLong("meta-path")], help: ArgumentHelp("Its meta JSON. Default: <index-path>.json.", valueName: "path"))
    var indexMetaPath: String?
    @Option(name: .customLong("similarity-db"), help: ArgumentHelp("The similarity cache. Default: <data>/similarity-cache.db.", valueName: "path"))
    var similarityDB: String?
    @Option(name: .customLong("merge-rules"), help: ArgumentHelp("Merge rules JSON. Default: the built-in merge_rules.json (refresh_rules.json with --refresh).", valueName: "path"))
    var mergeRules: String?
    @Option(name: [.customLong("logs"), .customLong("log-file")], help: ArgumentHelp("Append the worker log here (also echoed to stdout). Default: $PEERTUBE_UPDATER_LOG or <data>/updater-worker.log.", valueName: "path"))
    var logs: String?
    @Option(name: .customLong("whitelist-url"), help: ArgumentHelp("Whitelist URL or file. Default: JoinPeerTube's healthy hosts.", valueName: "url"))
    var whitelistURL: String?
    @OptionGroup var model: ModelOptions

    @Option(name: .customLong("max-instances"), parsing: .unconditional, help: "Instances to crawl (0: all).")
    var maxInstances = CrawlOptions().maxInstances
    @Option(name: .customLong("max-channels"), parsing: .unconditional, help: "Channels accepted by the channels stage and crawled by the videos stage (0: no cap).")
    var maxChannels = CrawlOptions().maxChannels
    @Option(name: .customLong("max-videos-pages"), parsing: .unconditional, help: "Pages per channel (0: no cap).")
    var maxVideosPages = CrawlOptions().maxVideosPages
    @Option(name: [.customLong("videos-stop-after-full-pages"), .customLong("stop-after-full-pages")], parsing: .unconditional,
            help: "Stop a channel after N consecutive pages of known videos (0: never).")
    var stopAfterFullPages = CrawlOptions().stopAfterFullPages
    @OptionGroup var http: CrawlHTTPOptions

    @Option(parsing: .unconditional, help: "ANN inverted lists (keep well below the number of embeddings).")
    var nlist = ANNBuild.Options().nlist
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Similar videos kept per video.")
    var topK = SimilarityPrecompute.Options().topK
    @Option(parsing: .unconditional, help: "Inverted lists probed per similarity query.")
    var nprobe = SimilarityPrecompute.Options().nprobe
    @OptionGroup var device: DeviceOptions

    @Flag(name: .customLong("use-systemctl"), help: "Stop the service before the merge and start it again after (also after a failure).")
    var useSystemctl = false
    @Flag(name: .customLong("skip-systemctl"), help: "Leave the service alone (the default; kept for the spec's worker command lines).")
    var skipSystemctl = false
    @Option(name: .customLong("service-name"), help: "The systemd service to stop and start. Default: $PEERTUBE_UPDATER_SERVICE or peertube-browser.")
    var serviceName: String?
    @Option(name: .customLong("systemctl-bin"), help: ArgumentHelp("systemctl, or a wrapper such as one running `sudo -n systemctl`.", valueName: "path"))
    var systemctlBin = "systemctl"
    @Flag(name: .customLong("refresh"), help: ArgumentHelp(
        "Also re-read known videos that are due (age-tiered: published within 7 days daily, 30 days every 3 days, a year every 14 days, older every 60), merge their changes with the refresh rules (counts, title, description, tags, names; a changed text re-embedded) and remove those gone upstream (404) from prod, the index and every similar-video list.",
        discussion: "Off by default: the spec's run inserts new videos only."))
    var refresh = false
    @Option(name: .customLong("refresh-budget"), parsing: .unconditional, help: "With --refresh: details requests per instance and run, at most.")
    var refreshBudget = RefreshPlan.Options().perHostBudget
    @Option(name: .customLong("instance-grace-days"), parsing: .unconditional, help: ArgumentHelp(
        "With --refresh: an instance unreachable for longer than this many days (at least 1) loses its videos from prod, the index and every list; one failed scan never deletes anything.",
        valueName: "days"))
    var instanceGraceDays = RefreshPlan.Options().instanceGraceDays
    @Flag(name: .customLong("resume-staging"), help: "Keep an existing staging DB and continue its crawl instead of starting afresh.")
    var resumeStaging = false
    @Flag(name: .customLong("skip-local-dead"), help: "Do not crawl instances whose prod health_status is set and not 'ok'.")
    var skipLocalDead = false
    @Option(name: .customLong("min-reached-share"), parsing: .unconditional, help: ArgumentHelp(
        "The outage gate: stop before the merge, with a non-zero exit, when the crawl reached fewer than this share of its instances (0 turns it off).",
        discussion: "A run during a network outage would otherwise 'succeed' having learnt nothing; the gate makes the timer's status show the outage.",
        valueName: "0...1"))
    var minReachedShare = WorkerOptions().minReachedShare

    @Flag(name: .customLong("inject-replace-embedding-for-test"), help: ArgumentHelp("(test only) Put a changed copy of prod's first embedding into staging.", visibility: .hidden))
    var injectReplaceEmbedding = false
    @Flag(name: .customLong("fail-before-merge"), help: ArgumentHelp("(test only) Fail after the staging deltas, before the merge.", visibility: .hidden))
    var failBeforeMerge = false
    @Flag(name: .customLong("fail-during-ann-build"), help: ArgumentHelp("(test only) Fail inside the ANN build, before the new index is published.", visibility: .hidden))
    var failDuringANNBuild = false
    @Flag(name: .customLong("fail-after-merge-before-similarity"), help: ArgumentHelp("(test only) Fail after the ANN build, before similarity.", visibility: .hidden))
    var failAfterMergeBeforeSimilarity = false

    func validate() throws {
        if useSystemctl && skipSystemctl { throw ValidationError("--use-systemctl and --skip-systemctl exclude each other") }
        guard instanceGraceDays >= 1 else { throw ValidationError("\(InstanceHealth.BadGracePeriod(days: instanceGraceDays))") }
        guard (0...1).contains(minReachedShare) else { throw ValidationError("--min-reached-share \(minReachedShare): must be in 0...1") }
        for (flag, value) in [("--nlist", nlist), ("--top-k", topK), ("--nprobe", nprobe), ("--refresh-budget", refreshBudget)] where value < 1 {
            throw ValidationError("\(flag) \(value): must be at least 1")
        }
        guard maxInstances >= 0, maxChannels >= 0, maxVideosPages >= 0, stopAfterFullPages >= 0 else {
            throw ValidationError("caps cannot be negative")
        }
    }

    func run() async throws {
        let defaults = UpdaterDefaults()
        var options = WorkerOptions(defaults: defaults)
        options.prodDB = prod.prodPath
        options.lockFile = prod.lockPath
        options.stagingDB = staging.stagingPath
        options.indexPath = indexPath ?? defaults.indexPath
        options.indexMetaPath = indexMetaPath ?? defaults.indexMetaPath(forIndex: options.indexPath)
        options.similarityDB = similarityDB ?? defaults.similarityDB
        options.mergeRulesPath = mergeRules
        options.refresh = refresh ? RefreshPlan.Options(perHostBudget: refreshBudget, instanceGraceDays: instanceGraceDays) : nil
        options.whitelistURL = whitelistURL ?? defaults.whitelistURL
        options.modelDirectory = model.directory
        options.embeddingThreads = model.threads
        options.crawl.maxInstances = maxInstances
        options.crawl.maxChannels = maxChannels
        options.crawl.maxVideosPages = maxVideosPages
        options.crawl.stopAfterFullPages = stopAfterFullPages
        options.http = http.clientOptions
        options.nlist = nlist
        options.similarityTopK = topK
        options.similarityNprobe = nprobe
        options.device = device.resolved(default: .gpu)
        options.gpuPrecision = device.gpuPrecision
        options.service.enabled = useSystemctl
        options.service.name = serviceName ?? defaults.serviceName
        options.service.executable = systemctlBin
        options.resumeStaging = resumeStaging
        options.skipLocalDead = skipLocalDead
        options.minReachedShare = minReachedShare
        options.injection.replaceEmbedding = injectReplaceEmbedding
        options.injection.failAt = [(failBeforeMerge, FaultPoint.failBeforeMerge), (failDuringANNBuild, .failDuringANNBuild),
                                    (failAfterMergeBeforeSimilarity, .failAfterMergeBeforeSimilarity)].filter(\.0).map(\.1)

        let sink = try LineLogHandler.Sink(stream: FileHandle.standardOutput, filePath: logs ?? defaults.workerLog)
        let logger = Logger(label: "worker") { _ in LineLogHandler(sink: sink) }
        _ = try await UpdaterWorker.run(options, logger: logger)
    }
}
