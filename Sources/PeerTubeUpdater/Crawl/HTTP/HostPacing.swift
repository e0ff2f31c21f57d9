import Foundation

/// What a host said about its rate limit in one answer's headers. PeerTube sends the legacy
/// `X-RateLimit-Limit/Remaining/Reset` (reset as a Unix time in seconds) and, on recent versions, the
/// standard `RateLimit-Limit/Remaining/Reset` (reset in seconds from now) with `RateLimit-Policy`
/// (`50;w=10`); a 429 carries `Retry-After` (seconds or an HTTP date).
struct RateLimitHeaders: Equatable {
    var limit: Int?
    var remaining: Int?
    /// Milliseconds until the host's window resets.
    var resetAfterMs: Int?
    /// The window's length, when the host names it (`RateLimit-Policy: 50;w=10`).
    var windowMs: Int?
    var retryAfterMs: Int?

    /// `headers` with lower-case names; nil when none of these headers is there.
    init?(_ headers: [String: String], now: Date = Date()) {
        func int(_ name: String) -> Int? {
            headers[name].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.flatMap { $0 >= 0 ? $0 : nil }
        }
        limit = int("ratelimit-limit") ?? int("x-ratelimit-limit")
        remaining = int("ratelimit-remaining") ?? int("x-ratelimit-remaining")
        if let reset = int("ratelimit-reset") ?? int("x-ratelimit-reset") {
            // A value past 2001-09-09 in seconds is a Unix time (the legacy header); smaller is a delay.
            let seconds = reset > 1_000_000_000 ? max(0, Double(reset) - now.timeIntervalSince1970) : Double(reset)
            resetAfterMs = Int(min(seconds, 86_400) * 1000)
        }
        if let policy = headers["ratelimit-policy"],
           let window = policy.split(separator: ";").dropFirst().first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("w=") }),
           let seconds = Int(window.trimmingCharacters(in: .whitespaces).dropFirst(2)), seconds > 0 {
            windowMs = seconds * 1000
        }
        retryAfterMs = PoliteHTTPClient.retryAfterMs(headers["retry-after"])
        if limit == nil, remaining == nil, resetAfterMs == nil, retryAfterMs == nil { return nil }
    }
}

// MARK: - HostPacer

/// The pace of requests to one host, learnt from its answers (additive increase, multiplicative
/// decrease of its rate, seeded from its rate-limit headers):
///
/// - Unpaced until the host says otherwise.
/// - An answer with `Remaining`/`Reset` headers sets the host's **quota**: the requests it still
///   allows in its current window. A request that would go past it waits for the window's reset, so
///   a host that announces its limit is never sent a request it would refuse.
/// - A **429** pauses the whole host (every request to it, not only the one refused) for
///   `Retry-After` (capped), and halves its rate: the next requests are spaced at least `interval`
///   apart. The first interval is the host's window ÷ its limit when known, else 200 ms (PeerTube's
///   default of 50 requests per 10 s).
/// - Every `successesPerIncrease` answers without a 429 raise the rate by `increaseStep` requests a
///   second, until it is fast enough to need no pacing at all.
/// - A host that has answered nothing but 429 for longer than the client's patience is given up
///   (`rateLimitedTooLong`): a crawl of a host stays bounded even though 429s use no retry budget.
///
/// Waits happen before a request takes a global slot, so a paused host never holds up the others.
actor HostPacer {
    static let defaultFirstInterval: Duration = .milliseconds(200)
    static let slowestInterval: Duration = .seconds(10)
    static let successesPerIncrease = 10
    static let increaseStep = 0.5  // requests per second
    /// Spacing below this is no pacing at all.
    static let unpacedBelow: Duration = .milliseconds(5)

    private let clock = ContinuousClock()
    private var pausedUntil: ContinuousClock.Instant?
    private var interval: Duration?
    private var nextStart: ContinuousClock.Instant?
    private var quota: (remaining: Int, resetAt: ContinuousClock.Instant)?
    private var windowMs: Int?
    private var inFlight = 0
    private var successesSinceChange = 0
    private var rateLimitedSince: ContinuousClock.Instant?
    private(set) var rateLimitedAnswers = 0

    /// Waits until this host may be sent one more request, then counts it as in flight.
    func waitTurn() async {
        while let delay = reserve() {
            guard !Task.isCancelled else {
                inFlight += 1  // the caller's request goes out (and fails fast) all the same
                return
            }
            try? await Task.sleep(for: delay)
        }
    }

    /// nil when a request may start now (and it is counted), else how long to wait first.
    private func reserve() -> Duration? {
        let now = clock.now
        if let pausedUntil, pausedUntil > now { return pausedUntil - now }
        if let current = quota {
            if current.resetAt <= now {
                quota = nil
            } else if current.remaining <= 0 {
                return current.resetAt - now + .milliseconds(20)
            }
        }
        if let interval {
            if let nextStart, nextStart > now { return nextStart - now }
            nextStart = now + interval
        }
        if quota != nil { quota!.remaining -= 1 }
        inFlight += 1
        return nil
    }

    /// Learns from one answer (`status` 0 when none came). `retryAfterCapMs` caps a 429's pause;
    /// `fallbackPauseMs` is used when a 429 names no pause.
    func observe(status: Int, headers: [String: String], retryAfterCapMs: Int, fallbackPauseMs: Int) {
        inFlight = max(0, inFlight - 1)
        let now = clock.now
        let announced = RateLimitHeaders(headers)
        if let windowMs = announced?.windowMs { self.windowMs = windowMs }
        if let announced, let remaining = announced.remaining, let resetAfterMs = announced.resetAfterMs {
            // The count is the host's as of this answer; requests still in flight will use some of it.
            quota = (remaining - inFlight, now + .milliseconds(resetAfterMs))
            if windowMs == nil, let limit = announced.limit, remaining == limit - 1, resetAfterMs > 0 {
                windowMs = resetAfterMs  // the first request of a window: its reset is one window away
            }
        }
        if status == 429 {
            rateLimitedAnswers += 1
            if rateLimitedSince == nil { rateLimitedSince = now }
            let pauseMs = min(announced?.retryAfterMs ?? announced?.resetAfterMs ?? fallbackPauseMs, retryAfterCapMs)
            let until = now + .milliseconds(pauseMs)
            let alreadyPaused = pausedUntil.map { $0 > now } ?? false
            if !alreadyPaused {
                // One decrease per pause, however many requests in flight come back refused.
                slowDown(limit: announced?.limit)
            }
            pausedUntil = max(pausedUntil ?? until, until)
            quota = nil
            successesSinceChange = 0
        } else if (200..<400).contains(status) {
            rateLimitedSince = nil
            speedUp()
        }
    }

    /// True once the host has answered only 429 for longer than `patience`.
    func rateLimitedTooLong(patience: Duration) -> Bool {
        guard let rateLimitedSince else { return false }
        return clock.now - rateLimitedSince >= patience
    }

    /// How long the host has answered only 429, for messages.
    var rateLimitedFor: Duration { rateLimitedSince.map { clock.now - $0 } ?? .zero }

    /// The current spacing of requests (nil: unpaced), for tests and logs.
    var currentInterval: Duration? { interval }

    private func slowDown(limit: Int?) {
        if let interval {
            self.interval = min(interval * 2, Self.slowestInterval)
        } else if let windowMs, let limit, limit > 0 {
            interval = .milliseconds(max(1, windowMs / limit))
        } else {
            interval = Self.defaultFirstInterval
        }
    }

    private func speedUp() {
        guard let interval else { return }
        successesSinceChange += 1
        guard successesSinceChange >= Self.successesPerIncrease else { return }
        successesSinceChange = 0
        let rate = 1 / interval.seconds + Self.increaseStep
        let faster = Duration.seconds(1 / rate)
        self.interval = faster < Self.unpacedBelow ? nil : faster
    }
}
