/// How the crawler talks to instances. Defaults are those of a polite daily crawl of real hosts.
public struct HTTPClientOptions: Sendable {
    /// Whole-request limit (connect, headers and body) per attempt.
    public var timeoutMs = 5_000
    /// Retries after the first attempt, for timeouts, network errors and 5xx. A 429 uses none: the
    /// host is alive and asks for a slower pace (see `rateLimitPatienceMs`).
    public var maxRetries = 3
    /// Requests in flight across all hosts.
    public var concurrency = 4
    /// Requests in flight per host (politeness).
    public var perHostConcurrency = 2
    /// A body above this is refused (`too_large`), never buffered whole.
    public var maxBodyBytes = 8 << 20
    /// First backoff pause; it doubles per retry up to `backoffCapMs`.
    public var backoffBaseMs = 1_000
    public var backoffCapMs = 30_000
    /// Longest pause honoured for one 429 (`Retry-After`, or the window's reset); a server asking
    /// for more gets this.
    public var retryAfterCapMs = 30_000
    /// A host that answers nothing but 429 for this long (no success in between) is given up for the
    /// run: its remaining requests fail with `http_429`. This bounds the crawl of a rate-limited host,
    /// whose 429s use no retry budget.
    public var rateLimitPatienceMs = 60_000
    /// Schemes tried in order; a host that cannot be reached on one is tried on the next.
    public var schemes = ["https", "http"]
    /// Host → `ADDRESS:PORT` to connect to instead of DNS, URLs and Host headers unchanged (curl's
    /// `--connect-to`). `*` routes every named host (not IP literals).
    public var routes: [String: String] = [:]
    /// Honour `Disallow` rules of each host's robots.txt (fetched once per host).
    public var respectRobots = true
    /// After this many requests to one host failed in a row (retries exhausted), the host's
    /// remaining requests fail at once: a dead host must not cost timeout × retries per channel.
    public var circuitBreakerThreshold = 3
    public var maxRedirects = 5
    public var userAgent = HTTPClientOptions.defaultUserAgent

    public static let productToken = "peertube-updater"
    public static let defaultUserAgent =
        "peertube-updater/0.3 (PeerTube discovery crawler; +https://github.com/peertube-updater/peertube-updater)"

    public init() {}

    /// Options for the simulated federation: plain http, every host routed to `address`.
    public static func simulator(address: String) -> HTTPClientOptions {
        var options = HTTPClientOptions()
        options.schemes = ["http"]
        options.routes = ["*": address]
        return options
    }
}
