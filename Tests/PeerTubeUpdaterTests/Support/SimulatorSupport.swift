import Foundation
import GRDB
import Logging
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

/// A simulated federation on 127.0.0.1 for one test, stopped by `stop()`.
struct RunningFederation {
    let federation: SimulatedFederation
    let address: String
    var corpus: SimCorpus { federation.api.corpus }

    static func start(corpus: SimCorpus = testCorpus, faults: SimFaults = SimFaults(), viewTime: Int64? = nil,
                      directory: [String]? = nil) async throws -> RunningFederation {
        var api = SimAPI(corpus: corpus, viewTime: viewTime)
        api.directoryEntries = directory
        let federation = try SimulatedFederation(api: api, faults: faults)
        let address = try await federation.start()
        return RunningFederation(federation: federation, address: address)
    }

    func stop() async { await federation.stop() }

    var whitelistURL: String { "http://\(address)/api/v1/instances/hosts?count=20000&healthy=true" }

    /// Client options for tests: simulator routing, short pauses, and a timeout long enough that a
    /// loaded test run (the simulator shares the test process with suites building mini-prods on both
    /// cores) does not time a healthy request out: under `make test` a 5 s limit retried detail
    /// requests and failed hosts that answered. Tests of timeouts pass their own.
    static let patientTimeoutMs = 30_000

    func clientOptions(timeoutMs: Int = patientTimeoutMs, maxRetries: Int = 2) -> HTTPClientOptions {
        var options = HTTPClientOptions.simulator(address: address)
        options.timeoutMs = timeoutMs
        options.maxRetries = maxRetries
        options.backoffBaseMs = 20
        options.backoffCapMs = 200
        options.retryAfterCapMs = 1_500
        options.rateLimitPatienceMs = 3_000
        return options
    }

    /// Runs the four crawl stages in worker order into `staging`.
    @discardableResult
    func crawlAll(into staging: String, options: CrawlOptions = CrawlOptions(), client: HTTPClientOptions? = nil,
                  logger: Logger = quietLogger) async throws -> [CrawlSummary] {
        let client = PoliteHTTPClient(options: client ?? clientOptions())
        defer { client.shutdown() }
        return try await crawlAll(into: staging, options: options, using: client, logger: logger)
    }

    /// The same with a client the caller keeps (to look at its state after).
    @discardableResult
    func crawlAll(into staging: String, options: CrawlOptions = CrawlOptions(), using client: PoliteHTTPClient,
                  logger: Logger = quietLogger) async throws -> [CrawlSummary] {
        [
            try await InstancesCrawl.run(stagingPath: staging, whitelistURL: whitelistURL, client: client, options: options, logger: logger),
            try await ChannelsCrawl.run(stagingPath: staging, client: client, options: options, logger: logger),
            try await VideosCrawl.run(stagingPath: staging, client: client, options: options, logger: logger),
            try await ChannelsVideosCountCrawl.run(stagingPath: staging, client: client, options: options, logger: logger),
        ]
    }
}

/// The corpus the crawl tests use: the five test instances, default shape (about 1,000 videos).
let testCorpus = SimCorpus(hosts: SimCorpus.defaultHosts)

/// A smaller corpus for tests that only need every host to have some channels and videos.
let smallCorpus: SimCorpus = {
    var shape = SimCorpus.Shape()
    shape.channelsPerInstance = 3
    shape.newChannelsPerInstance = 1
    shape.maxVideosPerChannel = 12
    return SimCorpus(hosts: SimCorpus.defaultHosts, shape: shape)
}()

/// Crawl options with small pages, so paging, caps and early stops are exercised on a small corpus.
func smallPages(_ change: (inout CrawlOptions) -> Void = { _ in }) -> CrawlOptions {
    var options = CrawlOptions()
    options.pageSize = 10
    change(&options)
    return options
}

/// Rows of a table as sorted arrays of text, without the columns that hold crawl times.
func tableContents(_ path: String, table: String, ignoring: Set<String> = ["last_checked_at", "updated_at", "health_checked_at"]) throws -> [[String]] {
    let queue = try DatabaseFile.open(path, role: "test DB", access: .readOnly)
    return try queue.read { db in
        let columns = try db.columnNames(of: table).filter { !ignoring.contains($0) }
        let rows = try Row.fetchAll(db, sql: "SELECT \(columns.joined(separator: ", ")) FROM \(table)")
        return rows.map { row in columns.map { (row[$0] as DatabaseValue).description } }.sorted { $0.lexicographicallyPrecedes($1) }
    }
}

func count(_ path: String, _ sql: String, _ arguments: StatementArguments = []) throws -> Int {
    try DatabaseFile.open(path, role: "test DB", access: .readOnly).read { db in
        try Int.fetchOne(db, sql: sql, arguments: arguments) ?? -1
    }
}

func fetchRow(_ path: String, _ sql: String, _ arguments: StatementArguments = []) throws -> Row? {
    try DatabaseFile.open(path, role: "test DB", access: .readOnly).read { db in
        try Row.fetchOne(db, sql: sql, arguments: arguments)
    }
}

func fetchStrings(_ path: String, _ sql: String, _ arguments: StatementArguments = []) throws -> [String] {
    try DatabaseFile.open(path, role: "test DB", access: .readOnly).read { db in
        try String.fetchAll(db, sql: sql, arguments: arguments)
    }
}
