import ArgumentParser
import Logging
import PeerTubeUpdater

struct CrawlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crawl",
        abstract: "Crawl PeerTube instances into the staging DB, one stage at a time.",
        discussion: """
            The worker runs these stages in order: instances (the whitelist), channels, videos, \
            channels-videos-count, and with --refresh, refresh. Each can be run alone on a staging DB; progress rows let --resume \
            continue an interrupted run. Failures of one host are recorded on its row and never stop the others.

            To crawl the simulated federation (`peertube-updater sim serve`), route every host to it: \
            --route '*=127.0.0.1:PORT' --http-only.
            """,
        subcommands: [Instances.self, Channels.self, Videos.self, ChannelsVideosCount.self, Refresh.self]
    )

    struct Instances: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "instances",
            abstract: "Fetch the whitelist and add its hosts to staging.",
            discussion: """
                Accepts JoinPeerTube's {"total":N,"data":[{"host":…}]} or a bare list of hosts or {host} objects, \
                from a URL or a local file. Hosts are trimmed, lower-cased, stripped of scheme, path and default \
                port, deduplicated; IP addresses, local names, credentials and non-host entries are rejected with \
                a logged reason.
                """)
        @OptionGroup var target: CrawlTarget
        @Option(name: .customLong("whitelist-url"), help: ArgumentHelp("Whitelist URL or file. Default: $PEERTUBE_UPDATER_WHITELIST_URL or JoinPeerTube's healthy hosts.", valueName: "url"))
        var whitelistURL: String?
        @OptionGroup var http: CrawlHTTPOptions
        @OptionGroup var log: LogOptions

        func run() async throws {
            try await http.withClient(log: log) { client, logger in
                _ = try await InstancesCrawl.run(stagingPath: target.dbPath, whitelistURL: whitelistURL ?? UpdaterDefaults().whitelistURL, client: client,
                                                 options: target.options, logger: logger)
            }
        }
    }

    struct Refresh: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "refresh",
            abstract: "Re-read the details of known prod videos that are due, into staging (404s into gone_videos).",
            discussion: """
                Due: last read longer ago than the interval of the video's age tier (published within 7 days: \
                every day; 30 days: every 3 days; a year: every 14 days; older: every 60 days), most overdue \
                first, at most --budget per instance, on the instances in staging. Prod is only read; a merge \
                with refresh_rules.json (what `run --refresh` does) brings the changes and removals into prod.
                """)
        @OptionGroup var target: CrawlTarget
        @Option(name: .customLong("prod-db"), help: ArgumentHelp("The prod DB whose videos are re-read (only read). Default: $PEERTUBE_UPDATER_PROD_DB or data/whitelist.db.", valueName: "path"))
        var prodDB: String?
        @Option(parsing: .unconditional, help: "Details requests per instance, at most.")
        var budget = RefreshPlan.Options().perHostBudget
        @OptionGroup var http: CrawlHTTPOptions
        @OptionGroup var log: LogOptions

        func validate() throws {
            guard budget >= 1 else { throw ValidationError("--budget \(budget): must be at least 1") }
        }

        func run() async throws {
            try await http.withClient(log: log) { client, logger in
                _ = try await RefreshCrawl.run(stagingPath: target.dbPath, prodPath: prodDB ?? UpdaterDefaults().prodDB, client: client, crawl: target.options,
                                               plan: RefreshPlan.Options(perHostBudget: budget), logger: logger)
            }
        }
    }

    struct Channels: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "channels",
            abstract: "Crawl each instance's channel list (local channels only).")
        @OptionGroup var target: CrawlTarget
        @OptionGroup var http: CrawlHTTPOptions
        @OptionGroup var log: LogOptions

        func run() async throws {
            try await http.withClient(log: log) { client, logger in
                _ = try await ChannelsCrawl.run(stagingPath: target.dbPath, client: client, options: target.options, logger: logger)
            }
        }
    }

    struct Videos: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "videos",
            abstract: "Crawl the videos of each channel, newest first, with details for new videos.")
        @OptionGroup var target: CrawlTarget
        @Option(name: .customLong("existing-db"), help: ArgumentHelp("Prod DB (read only): its videos count as known.", valueName: "path"))
        var existingDB: String?
        @Option(name: [.customLong("stop-after-full-pages"), .customLong("videos-stop-after-full-pages")], parsing: .unconditional,
                help: "Stop a channel after N consecutive pages of known videos (0: never).")
        var stopAfterFullPages = CrawlOptions().stopAfterFullPages
        @Option(name: .customLong("max-videos-pages"), parsing: .unconditional, help: "Pages per channel in this run (0: no cap).")
        var maxVideosPages = CrawlOptions().maxVideosPages
        @Flag(name: .customLong("no-details"), help: "Skip GET /api/v1/videos/{uuid} for new videos (descriptions stay truncated, no tags).")
        var noDetails = false
        @OptionGroup var http: CrawlHTTPOptions
        @OptionGroup var log: LogOptions

        func run() async throws {
            var options = target.options
            options.existingDB = existingDB
            options.stopAfterFullPages = stopAfterFullPages
            options.maxVideosPages = maxVideosPages
            options.fetchDetails = !noDetails
            try await http.withClient(log: log) { client, logger in
                _ = try await VideosCrawl.run(stagingPath: target.dbPath, client: client, options: options, logger: logger)
            }
        }
    }

    struct ChannelsVideosCount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "channels-videos-count",
            abstract: "Fill in channel video counts from the API's total.")
        @OptionGroup var target: CrawlTarget
        @Flag(name: .customLong("all"), help: "Recount every channel, not only those without a count.")
        var all = false
        @OptionGroup var http: CrawlHTTPOptions
        @OptionGroup var log: LogOptions

        func run() async throws {
            var options = target.options
            options.recountAll = all
            try await http.withClient(log: log) { client, logger in
                _ = try await ChannelsVideosCountCrawl.run(stagingPath: target.dbPath, client: client, options: options, logger: logger)
            }
        }
    }
}

// MARK: - CrawlTarget

/// The staging DB and the caps every crawl stage shares.
struct CrawlTarget: ParsableArguments {
    @Option(name: [.customLong("db"), .customLong("staging-db")], help: ArgumentHelp("The staging DB. Default: $PEERTUBE_UPDATER_STAGING_DB or data/staging-worker.db.", valueName: "path"))
    var db: String?
    @Option(name: .customLong("max-instances"), parsing: .unconditional, help: "Instances to crawl (0: all).")
    var maxInstances = CrawlOptions().maxInstances
    @Option(name: .customLong("max-channels"), parsing: .unconditional, help: "Channels stage: channels accepted; videos stage: channels crawled (0: no cap).")
    var maxChannels = CrawlOptions().maxChannels
    @Flag(inversion: .prefixedNo, help: "Keep only channels and videos not already known.")
    var newOnly = true
    @Flag(help: "Continue from the progress rows of an interrupted run.")
    var resume = false

    var dbPath: String { db ?? UpdaterDefaults().stagingDB }

    var options: CrawlOptions {
        var options = CrawlOptions()
        options.maxInstances = maxInstances
        options.maxChannels = maxChannels
        options.newOnly = newOnly
        options.resume = resume
        return options
    }
}

// MARK: - CrawlHTTPOptions

/// How the crawl talks HTTP.
struct CrawlHTTPOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Requests in flight across all hosts.")
    var concurrency = HTTPClientOptions().concurrency
    @Option(name: .customLong("per-host"), parsing: .unconditional, help: "Requests in flight per host.")
    var perHost = HTTPClientOptions().perHostConcurrency
    @Option(name: .customLong("timeout-ms"), parsing: .unconditional, help: "Limit per request attempt, body included.")
    var timeoutMs = HTTPClientOptions().timeoutMs
    @Option(name: .customLong("max-retries"), parsing: .unconditional, help: "Retries for timeouts, network errors and 5xx (never 4xx). A 429 uses none: the host is paused for its Retry-After and then paced.")
    var maxRetries = HTTPClientOptions().maxRetries
    @Option(name: .customLong("backoff-ms"), parsing: .unconditional, help: "First pause before a retry; doubles each time, capped at 30 s (--retry-after-cap-ms caps a 429's pause).")
    var backoffMs = HTTPClientOptions().backoffBaseMs
    @Option(name: .customLong("retry-after-cap-ms"), parsing: .unconditional, help: "Longest pause honoured for one 429 (Retry-After or the window's reset).")
    var retryAfterCapMs = HTTPClientOptions().retryAfterCapMs
    @Option(name: .customLong("rate-limit-patience-ms"), parsing: .unconditional, help: ArgumentHelp(
        "A host answering nothing but 429 for this long is given up for the run.",
        discussion: "Each host is paced: a 429 pauses the whole host for its Retry-After, then its requests go at a learnt rate (halved at each 429, raised slowly after successes, seeded from RateLimit-* / X-RateLimit-* headers). So a rate-limited host is crawled completely at the pace it allows, and this patience bounds the crawl of a host that never lets a request through."))
    var rateLimitPatienceMs = HTTPClientOptions().rateLimitPatienceMs
    @Option(name: .customLong("max-body-bytes"), parsing: .unconditional, help: "Bodies above this are refused.")
    var maxBodyBytes = HTTPClientOptions().maxBodyBytes
    @Option(name: .customLong("route"), help: ArgumentHelp("HOST=ADDRESS:PORT: connect there for HOST, URL and Host header unchanged ('*' for every host). Repeatable.", valueName: "host=addr"))
    var routes: [String] = []
    @Flag(name: .customLong("http-only"), help: "Speak plain http only (the simulator); by default https, then http.")
    var httpOnly = false
    @Flag(name: .customLong("ignore-robots"), help: "Do not fetch or honour robots.txt.")
    var ignoreRobots = false

    func validate() throws {
        guard concurrency >= 1, perHost >= 1 else { throw ValidationError("--concurrency and --per-host must be at least 1") }
        guard timeoutMs >= 100 else { throw ValidationError("--timeout-ms must be at least 100") }
        guard maxRetries >= 0 else { throw ValidationError("--max-retries cannot be negative") }
        guard rateLimitPatienceMs >= 0 else { throw ValidationError("--rate-limit-patience-ms cannot be negative") }
        for route in routes where route.split(separator: "=").count != 2 {
            throw ValidationError("--route expects HOST=ADDRESS:PORT, got '\(route)'")
        }
    }

    /// Runs `body` with a client of these options and a logger, and shuts the client down after.
    func withClient(log: LogOptions, _ body: (PoliteHTTPClient, Logger) async throws -> Void) async throws {
        let logger = try log.makeLogger("crawl")
        let client = PoliteHTTPClient(options: clientOptions)
        defer { client.shutdown() }
        try await body(client, logger)
    }

    var clientOptions: HTTPClientOptions {
        var options = HTTPClientOptions()
        options.concurrency = concurrency
        options.perHostConcurrency = perHost
        options.timeoutMs = timeoutMs
        options.maxRetries = maxRetries
        options.backoffBaseMs = backoffMs
        options.retryAfterCapMs = retryAfterCapMs
        options.rateLimitPatienceMs = rateLimitPatienceMs
        options.maxBodyBytes = maxBodyBytes
        options.respectRobots = !ignoreRobots
        if httpOnly { options.schemes = ["http"] }
        for route in routes {
            let parts = route.split(separator: "=", maxSplits: 1).map(String.init)
            options.routes[parts[0].lowercased()] = parts[1]
        }
        return options
    }
}
