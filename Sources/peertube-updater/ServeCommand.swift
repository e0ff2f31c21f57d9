import ArgumentParser
import Foundation
import HTTPServing
import PeerTubeServe
import PeerTubeUpdater

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve similar videos, video details and text search over HTTP, while the worker updates.",
        discussion: """
            GET /api/v1/videos/{host}/{id}/similar?count=N   the cached list, neighbours' metadata joined from prod
            GET /api/v1/videos/{host}/{id}                   one prod video (PeerTube's video object shape)
            GET /api/v1/search/similar?text=…&count=N        the text embedded, the index searched, exact re-rank
            GET /healthz                                     the generation served: built when, row counts

            Reads only (prod and the cache are switched to WAL mode once, at start). Each answer comes from one \
            generation: a snapshot of prod, one of the cache and one index, opened together. When the worker \
            publishes new ones (merge, index, similarity), serve switches once they agree, finishing requests in \
            flight on the old ones: the worker never needs to stop it (--use-systemctl is optional). \
            count is 1…--max-count (default 10).

            Limits per client: a request line over 8 KiB gets 414, headers over 16 KiB (or 100 fields) 431, a \
            malformed request 400, a method other than GET/HEAD 405 with Allow; a connection with no request in \
            progress (idle, or its head still arriving) is closed after --idle-timeout; past --max-connections \
            a new connection is answered 503 (the cap is lowered to what the open-file limit allows, raised to \
            its hard limit at start: set LimitNOFILE in the unit). SIGTERM (systemctl stop) and SIGINT stop \
            accepting, let requests in flight finish (at most 10 s) and exit 0.
            """
    )

    @Option(name: .customLong("prod-db"), help: ArgumentHelp("The prod DB. Default: $PEERTUBE_UPDATER_PROD_DB or data/whitelist.db.", valueName: "path"))
    var prodDB: String?
    @Option(name: .customLong("index"), help: ArgumentHelp("The ANN index. Default: $PEERTUBE_UPDATER_INDEX_PATH or data/whitelist-video-embeddings.faiss.", valueName: "path"))
    var index: String?
    @Option(name: .customLong("index-meta"), help: ArgumentHelp("The ANN meta JSON. Default: $PEERTUBE_UPDATER_INDEX_META_PATH or <index>.json.", valueName: "path"))
    var meta: String?
    @Option(name: .customLong("similarity-db"), help: ArgumentHelp("The similarity cache. Default: $PEERTUBE_UPDATER_SIMILARITY_DB or data/similarity-cache.db.", valueName: "path"))
    var cache: String?
    @OptionGroup var model: ModelOptions
    @Flag(name: .customLong("no-text-search"), help: "Serve without the model: /search/similar answers 503.")
    var noTextSearch = false
    @Option(help: ArgumentHelp("The address to listen on (loopback by default; put a reverse proxy in front for the public).", valueName: "ip4"))
    var address = "127.0.0.1"
    @Option(help: "The port (0: any free one, logged).")
    var port: UInt16 = 8092
    @Option(name: .customLong("max-count"), help: "The largest count a request may ask for.")
    var maxCount = 50
    @Option(help: "Inverted lists probed per text search.")
    var nprobe = 16
    @Option(name: .customLong("max-connections"), help: "Connections open at once; one more is answered 503.")
    var maxConnections = HTTPLimits().maxConnections
    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Seconds before a connection with no request in progress is closed.", valueName: "seconds"))
    var idleTimeout = Int(HTTPLimits().idleTimeout.components.seconds)
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1...1_000).contains(maxCount) else { throw ValidationError("--max-count must be 1…1000") }
        guard nprobe > 0 else { throw ValidationError("--nprobe must be > 0") }
        guard maxConnections > 0, idleTimeout > 0 else { throw ValidationError("--max-connections and --idle-timeout must be > 0") }
    }

    func run() async throws {
        let logger = try log.makeLogger("serve")
        let defaults = UpdaterDefaults()
        var options = ServeOptions(prodPath: prodDB ?? defaults.prodDB, indexPath: index ?? defaults.indexPath,
                                   metaPath: meta ?? defaults.indexMetaPath(forIndex: index), cachePath: cache ?? defaults.similarityDB,
                                   modelDirectory: noTextSearch ? nil : model.directory)
        options.address = address
        options.port = port
        options.maxCount = maxCount
        options.defaultCount = min(options.defaultCount, maxCount)
        options.nprobe = nprobe
        options.modelThreads = model.threads
        options.limits.maxConnections = maxConnections
        options.limits.idleTimeout = .seconds(idleTimeout)
        // SIGTERM (systemctl stop) and SIGINT end serving through the service group's graceful
        // shutdown: requests in flight finish, then run returns and the process exits 0.
        try await ReadServer(options: options, logger: logger).run(stopOnSignals: true)
    }
}
