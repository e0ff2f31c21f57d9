import Logging
import Synchronization

/// What every host-based crawl stage starts from: the staging store, the hosts it covers (first
/// `maxInstances` by name), its clock and the client's request count, so its summary counts only
/// its own requests and time.
struct StageRun {
    let store: CrawlStore
    let hosts: [String]
    private let clock = ContinuousClock.now
    private let requestsBefore: Int
    private let client: PoliteHTTPClient

    init(stagingPath: String, client: PoliteHTTPClient, options: CrawlOptions) throws {
        store = CrawlStore(db: try StagingDatabase.openOrCreate(at: stagingPath))
        hosts = try store.instanceHosts(limit: options.maxInstances)
        requestsBefore = client.requestCounters.requests
        self.client = client
    }

    func summary(_ tally: StageTally) -> CrawlSummary {
        var summary = tally.summary
        summary.requests = client.requestCounters.requests - requestsBefore
        summary.elapsedMs = clock.elapsedMilliseconds
        return summary
    }
}

/// A run-wide cap shared by concurrent workers (`--max-channels`): `take` grants at most what is left.
final class Budget: Sendable {
    private let remaining: Mutex<Int?>

    /// `limit` 0 means unlimited.
    init(limit: Int) { remaining = Mutex(limit > 0 ? limit : nil) }

    func take(_ wanted: Int) -> Int {
        remaining.withLock { left in
            guard let current = left else { return wanted }
            let granted = min(wanted, current)
            left = current - granted
            return granted
        }
    }

    var isExhausted: Bool { remaining.withLock { $0 == 0 } }
}

/// Counters shared by a stage's workers, for its progress lines and summary.
final class StageTally: Sendable {
    private let state: Mutex<(summary: CrawlSummary, progress: ProgressLine)>

    init(label: String, total: Int, unit: String, interval: Double) {
        state = Mutex((CrawlSummary(), ProgressLine(label: label, total: total, unit: unit, interval: interval)))
    }

    func update(_ change: (inout CrawlSummary) -> Void) {
        state.withLock { change(&$0.summary) }
    }

    /// One more unit of work done (a host, a channel); logs a progress line when due.
    func finishedOne(client: PoliteHTTPClient, logger: Logger) {
        state.withLock { state in
            let summary = state.summary
            state.progress.advance(by: 1, detail: "channels \(summary.channels), videos \(summary.videos), pages \(summary.pages), requests \(client.requestCounters.requests)", logger: logger)
        }
    }

    var summary: CrawlSummary { state.withLock { $0.summary } }
}

/// What went wrong on a host without stopping its crawl: items refused by `PayloadCheck`, channels
/// whose videos failed, video details refused. At the end of a stage each host's problems become
/// one line on its `instances` row, where an operator looks for them.
final class HostProblems: Sendable {
    enum Kind: CaseIterable {
        case refusedItems, failedChannels, unusableDetails

        /// `invalid_item: 12 item(s) refused`: a stable label, then the count.
        func summary(_ count: Int) -> String {
            switch self {
            case .refusedItems: "invalid_item: \(count) item(s) refused"
            case .failedChannels: "channels_failed: \(count) channel(s) failed"
            case .unusableDetails: "details_failed: \(count) video detail(s) unusable"
            }
        }
    }

    private struct Tally {
        var count = 0
        var first: String
    }

    private let entries = Mutex<[String: [Kind: Tally]]>([:])

    /// `count` more problems of `kind` on `host`; the first one's `detail` is kept as the example.
    func note(_ kind: Kind, on host: String, count: Int = 1, _ detail: @autoclosure () -> String) {
        guard count > 0 else { return }
        entries.withLock { entries in
            var tally = entries[host]?[kind] ?? Tally(first: detail())
            tally.count += count
            entries[host, default: [:]][kind] = tally
        }
    }

    /// One line per host with problems: `invalid_item: 12 item(s) refused (first: …); channels_failed: …`.
    var lines: [String: String] {
        entries.withLock { entries in
            entries.mapValues { tallies in
                Kind.allCases.compactMap { kind in
                    tallies[kind].map { "\(kind.summary($0.count)) (first: \($0.first))" }
                }.joined(separator: "; ")
            }
        }
    }

    /// Writes each host's line on its row (`source` says which stage saw it).
    func record(in store: CrawlStore, source: String, logger: Logger) {
        for (host, line) in lines.sorted(by: { $0.key < $1.key }) {
            logger.warning("\(source): \(host): \(line)")
            try? store.recordInstanceProblem(host, line, source: source)
        }
    }
}

/// Runs `body` for every item with at most `width` running at once, in item order.
func forEachConcurrently<Item: Sendable>(_ items: [Item], width: Int,
                                         _ body: @escaping @Sendable (Item) async -> Void) async {
    await withTaskGroup(of: Void.self) { group in
        var iterator = items.makeIterator()
        for _ in 0..<max(1, width) {
            guard let item = iterator.next() else { break }
            group.addTask { await body(item) }
        }
        while await group.next() != nil {
            if let item = iterator.next() { group.addTask { await body(item) } }
        }
    }
}
