import Foundation
import Testing
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

extension Integration {
/// Hosts with PeerTube's default API rate limit (50 requests per 10 s per client, 429 with
/// `Retry-After` and rate-limit headers) are crawled completely, in close to the time their limit
/// allows, while the other hosts go on at full speed.
@Suite(.serialized) struct RateLimitTests {
    static let limited = "tilvids.com"
    static let healthy = "framatube.org"

    struct Mode: Sendable, CustomStringConvertible {
        var name: String
        var rule: SimFaults.PeerTubeRateLimit
        var description: String { name }
    }

    static let modes = [
        Mode(name: "standard and legacy headers", rule: .init()),
        Mode(name: "legacy X-RateLimit headers only", rule: .init(standardHeaders: false)),
    ]

    @Test(arguments: modes)
    func rateLimitedHostIsCrawledCompletely(_ mode: Mode) async throws {
        var shape = SimCorpus.Shape()
        shape.channelsPerInstance = 3
        shape.newChannelsPerInstance = 0
        shape.minVideosPerChannel = 30
        shape.maxVideosPerChannel = 40
        shape.followsPerInstance = 1
        let corpus = SimCorpus(hosts: [Self.limited, Self.healthy], shape: shape)
        let sim = try await RunningFederation.start(corpus: corpus, faults: SimFaults(hosts: [Self.limited: .init(peertubeRateLimit: mode.rule)]))
        defer { Task { await sim.stop() } }
        let dir = try TempDir()
        let staging = dir.path("staging.db")
        var client = sim.clientOptions(timeoutMs: 5_000, maxRetries: 2)
        client.retryAfterCapMs = 30_000
        client.rateLimitPatienceMs = 60_000
        client.concurrency = 8
        client.perHostConcurrency = 4  // eager on purpose: the pacer, not the politeness cap, must hold it back
        let http = PoliteHTTPClient(options: client)
        defer { http.shutdown() }
        let start = ContinuousClock.now
        try await sim.crawlAll(into: staging, using: http)
        let elapsed = (ContinuousClock.now - start).seconds

        // Every channel and video of both hosts is stored, and neither host has an error.
        for instance in corpus.instances {
            #expect(try count(staging, "SELECT count(*) FROM videos WHERE instance_domain = ? AND last_error IS NULL", [instance.host])
                == instance.channels.flatMap(\.videos).count, "\(instance.host) fully crawled")
            #expect(try count(staging, "SELECT count(*) FROM channels WHERE instance_domain = ?", [instance.host]) == instance.channels.count)
            #expect(try count(staging, "SELECT count(*) FROM instances WHERE host = ? AND health_status = 'ok' AND last_error IS NULL", [instance.host]) == 1)
        }
        // Close to the time the limit allows: the requests it accepted ÷ its rate + one window (+ 3 s
        // for the headers' whole-second resolution and this machine's load).
        let requests = sim.federation.requests.filter { $0.host == Self.limited && $0.path.hasPrefix("/api/") }
        let accepted = requests.filter { $0.status != 429 }.count
        let refused = requests.count - accepted
        let windowSeconds = Double(mode.rule.window) / 1000
        let allowed = Double(accepted) / (Double(mode.rule.limit) / windowSeconds) + windowSeconds
        print("rate-limited host (\(mode.name)): \(accepted) requests accepted, \(refused) refused with 429, crawl \(String(format: "%.1f", elapsed)) s; the limit allows \(String(format: "%.1f", allowed)) s")
        #expect(accepted > mode.rule.limit * 2, "enough requests to span several windows")
        // Slack: the headers' whole-second resolution, and a loaded machine (the simulator shares this
        // process with the suites beside it).
        #expect(elapsed <= allowed * 1.15 + 3, "crawl \(elapsed) s, the limit allows \(allowed) s")
        // Announced limits are respected: at most one refused request per window and lane.
        #expect(refused <= (accepted / mode.rule.limit + 1) * client.perHostConcurrency, "\(refused) requests refused")

        // The other host went on at full speed: never refused, never paced.
        #expect(!sim.federation.requests.contains { $0.host == Self.healthy && $0.status == 429 })
        let healthyPace = await http.pace(of: Self.healthy)
        #expect(healthyPace.interval == nil && healthyPace.rateLimitedAnswers == 0)
    }

    /// A host that only says `Retry-After` (no rate-limit headers): the first 429 pauses the whole
    /// host, then it goes on at a learnt pace; a 429 uses no retry budget.
    @Test func retryAfterOnlyHostPausesAndSlowsDown() async throws {
        let sim = try await RunningFederation.start(corpus: smallCorpus, faults: SimFaults(hosts: [Self.limited: .init(rateLimited: 3, retryAfterSeconds: 1)]))
        defer { Task { await sim.stop() } }
        let client = PoliteHTTPClient(options: sim.clientOptions(maxRetries: 0))
        defer { client.shutdown() }
        let start = ContinuousClock.now
        async let first = client.getJSON(host: Self.limited, "/api/v1/config")
        async let second = client.getJSON(host: Self.limited, "/api/v1/video-channels?count=1")
        _ = try await (first, second)
        // No retries allowed, yet both got through: 429s wait, they do not fail.
        #expect((ContinuousClock.now - start) >= .seconds(1))
        let statuses = sim.federation.requests.filter { $0.path.hasPrefix("/api/") }.map(\.status)
        #expect(statuses.filter { $0 == 429 }.count == 3 && statuses.filter { $0 == 200 }.count == 2, "\(statuses)")
    }

    /// 429 forever: the host is given up after the patience, every later request fails at once.
    @Test func hostAnsweringOnly429IsGivenUpAfterThePatience() async throws {
        let sim = try await RunningFederation.start(corpus: smallCorpus, faults: SimFaults(hosts: [Self.limited: .init(rateLimited: -1, retryAfterSeconds: 1)]))
        defer { Task { await sim.stop() } }
        var options = sim.clientOptions()
        options.rateLimitPatienceMs = 2_000
        let client = PoliteHTTPClient(options: options)
        defer { client.shutdown() }
        let start = ContinuousClock.now
        await #expect { _ = try await client.getJSON(host: Self.limited, "/api/v1/config") } throws: { error in
            (error as? FetchError)?.label == "http_429" && "\(error)".contains("answered only 429")
        }
        #expect((ContinuousClock.now - start) >= .seconds(2))
        let before = sim.federation.requests.count
        await #expect(throws: FetchError.self) { _ = try await client.getJSON(host: Self.limited, "/api/v1/videos?count=1") }
        #expect(sim.federation.requests.count == before, "a host past its patience gets no more requests")
    }

    @Test func rateLimitHeadersAreRead() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let legacy = try #require(RateLimitHeaders(["x-ratelimit-limit": "50", "x-ratelimit-remaining": "7",
                                                    "x-ratelimit-reset": "1800000004"], now: now))
        #expect(legacy.limit == 50 && legacy.remaining == 7 && legacy.resetAfterMs == 4_000 && legacy.windowMs == nil)
        let standard = try #require(RateLimitHeaders(["ratelimit-limit": "50", "ratelimit-remaining": "0", "ratelimit-reset": "9",
                                                      "ratelimit-policy": "50;w=10", "retry-after": "9"], now: now))
        #expect(standard.resetAfterMs == 9_000 && standard.windowMs == 10_000 && standard.retryAfterMs == 9_000)
        #expect(RateLimitHeaders(["content-type": "application/json"]) == nil)
        #expect(RateLimitHeaders(["x-ratelimit-remaining": "-3"]) == nil)
    }

    @Test func pacerHalvesItsRateOnEach429AndRecovers() async {
        let pacer = HostPacer()
        #expect(await pacer.currentInterval == nil)
        await pacer.waitTurn()
        await pacer.observe(status: 429, headers: ["retry-after": "0"], retryAfterCapMs: 1_000, fallbackPauseMs: 10)
        #expect(await pacer.currentInterval == HostPacer.defaultFirstInterval)
        await pacer.waitTurn()
        await pacer.observe(status: 429, headers: ["retry-after": "0"], retryAfterCapMs: 1_000, fallbackPauseMs: 10)
        #expect(await pacer.currentInterval == HostPacer.defaultFirstInterval * 2)
        for _ in 0..<HostPacer.successesPerIncrease {
            await pacer.observe(status: 200, headers: [:], retryAfterCapMs: 1_000, fallbackPauseMs: 10)
        }
        let faster = await pacer.currentInterval ?? .zero
        #expect(faster < HostPacer.defaultFirstInterval * 2 && faster > .zero)
        #expect(await pacer.rateLimitedTooLong(patience: .seconds(60)) == false)
    }
}
}
