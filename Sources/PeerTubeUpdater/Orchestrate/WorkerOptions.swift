import Foundation

/// Everything one worker run needs, resolved: paths, crawl caps, HTTP behaviour, devices and the
/// test-only switches. The CLI builds it from flags over `UpdaterDefaults`.
public struct WorkerOptions: Sendable {
    public var prodDB: String
    public var stagingDB: String
    public var indexPath: String
    public var indexMetaPath: String
    public var similarityDB: String
    /// nil: the built-in `merge_rules.json` (`refresh_rules.json` with `refresh`).
    public var mergeRulesPath: String?
    /// Re-read known videos that are due (`RefreshCrawl`), merge their changes with the refresh rules
    /// and remove the ones gone upstream; nil (the default, the spec's semantics): new videos only.
    public var refresh: RefreshPlan.Options?
    public var lockFile: String
    public var whitelistURL: String
    public var modelDirectory: String

    public var crawl = CrawlOptions()
    public var http = HTTPClientOptions()
    /// Keep an existing staging DB (and continue its crawl progress) instead of recreating it.
    public var resumeStaging = false
    /// Drop from staging the instances whose prod `health_status` is set and not `ok`.
    public var skipLocalDead = false
    /// The outage gate: a crawl that reached fewer than this share of its instances stops the run
    /// before the merge (0 turns the gate off).
    public var minReachedShare = 0.5

    /// Where the embeddings and the ANN build run; `.gpu` has no CPU fallback.
    public var device = ComputeDevice.gpu
    /// How the GPU computes its GEMMs (fp32 unless asked).
    public var gpuPrecision = GEMMPrecision.fp32
    public var nlist = ANNBuild.Options().nlist
    public var similarityTopK = SimilarityPrecompute.Options().topK
    public var similarityNprobe = SimilarityPrecompute.Options().nprobe
    public var embeddingBatchSize = EmbeddingStage.Options().batchSize
    /// Cores the model's forward passes use at most (nil: all).
    public var embeddingThreads: Int?

    public var service = ServiceControl.Settings()

    public var injection = TestInjection()

    /// Test-only switches: they prove the run's guarantees, never used in production.
    public struct TestInjection: Sendable, Equatable {
        /// After embeddings: put into staging one embedding whose key exists in prod, with a changed
        /// payload, so the INSERT_OR_REPLACE rule has a row to replace (`ReplacementEmbedding`).
        public var replaceEmbedding = false
        /// Points where the run fails on purpose (`FaultPlan`).
        public var failAt: [FaultPoint] = []
        public init() {}
    }

    public init(defaults: UpdaterDefaults = UpdaterDefaults()) {
        prodDB = defaults.prodDB
        stagingDB = defaults.stagingDB
        indexPath = defaults.indexPath
        indexMetaPath = defaults.indexMetaPath()
        similarityDB = defaults.similarityDB
        lockFile = defaults.lockFile()
        whitelistURL = defaults.whitelistURL
        modelDirectory = ModelFiles.resolveDirectory(nil, environment: defaults.environment)
        service.name = defaults.serviceName
    }
}
