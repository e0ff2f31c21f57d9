import Foundation
import Testing
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

extension Integration {
/// The crawler's HTTP client against the simulator: what is retried, what is not, what is refused.
@Suite struct HTTPClientTests {
    @Test func clientErrorsAreNotRetriedAndServerErrorsAre() async throws {
        let sim = try await RunningFederation.start(corpus: smallCorpus, faults: SimFaults(hosts: ["diode.zone": .init(serverErrors: 2)]))
        defer { Task { await sim.stop() } }
        let client = PoliteHTTPClient(options: sim.clientOptions(maxRetries: 3))
        defer { client.shutdown() }
        // PeerTube's own 404 (an RFC 7807 problem): not retried, and recognised as PeerTube's.
        var notFound = FetchError(.http(404), "HTTP 404 for http://tilvids.com/api/v1/video-channels/nobody")
        notFound.peerTubeShaped = true
        await #expect(throws: notFound) {
            _ = try await client.getJSON(host: "tilvids.com", "/api/v1/video-channels/nobody")
        }
        #expect(sim.federation.requests.filter { $0.path == "/api/v1/video-channels/nobody" }.count == 1)
        let page = try await client.getJSON(host: "diode.zone", "/api/v1/video-channels?count=1")
        #expect(page.json["total"]?.int != nil && page.scheme == "http")
        #expect(sim.federation.requests.filter { $0.host == "diode.zone" && $0.path.hasPrefix("/api/") }.map(\.status) == [502, 502, 200])
        #expect(client.requestCounters.retries == 2)
    }

    @Test func retryAfterIsHonouredAndCapped() async throws {
        let sim = try await RunningFederation.start(corpus: smallCorpus, faults: SimFaults(hosts: [
            "tilvids.com": .init(rateLimited: 1, retryAfterSeconds: 1),
            "peertube.tv": .init(rateLimited: 1, retryAfterSeconds: 3600),
        ]))
        defer { Task { await sim.stop() } }
        var options = sim.clientOptions()
        options.retryAfterCapMs = 300
        let client = PoliteHTTPClient(options: options)
        defer { client.shutdown() }
        var clock = ContinuousClock.now
        _ = try await client.getJSON(host: "tilvids.com", "/api/v1/config")
        // Retry-After: 1 is longer than the cap: waited the cap, not the 20 ms backoff.
        #expect((ContinuousClock.now - clock) >= .milliseconds(300))
        clock = ContinuousClock.now
        _ = try await client.getJSON(host: "peertube.tv", "/api/v1/config")
        #expect((ContinuousClock.now - clock) < .seconds(30))  // an hour asked, the cap (300 ms) honoured; slack for a loaded machine
    }

    /// Real runs try https first: against a plain-http server the TLS handshake fails and the client
    /// falls back to http, then keeps using it for that host.
    @Test func fallsBackFromHTTPSToHTTPAndRemembers() async throws {
        let sim = try await RunningFederation.start(corpus: smallCorpus)
        defer { Task { await sim.stop() } }
        var options = sim.clientOptions(maxRetries: 1)
        options.schemes = ["https", "http"]
        let client = PoliteHTTPClient(options: options)
        defer { client.shutdown() }
        let first = try await client.getJSON(host: "peertube.tv", "/api/v1/config")
        #expect(first.scheme == "http" && first.json["serverVersion"]?.string != nil)
        let before = client.requestCounters.requests
        _ = try await client.getJSON(host: "peertube.tv", "/api/v1/config")
        #expect(client.requestCounters.requests == before + 1)  // no second https attempt
    }

    @Test func robotsRulesFollowRFC9309() {
        let rules = RobotsRules(parsing: """
            User-agent: *
            Disallow: /

            User-agent: peertube-updater
            Disallow: /api/v1/videos/
            Allow: /api/v1/videos/public
            Disallow: /*.json$
            """, productToken: "peertube-updater")
        #expect(rules.allows("/api/v1/video-channels?count=50"))
        #expect(!rules.allows("/api/v1/videos/abc"))
        #expect(rules.allows("/api/v1/videos/public-list"))
        #expect(!rules.allows("/data.json"))
        #expect(rules.allows("/data.json?x=1"))
        let others = RobotsRules(parsing: "User-agent: *\nDisallow: /api/\n", productToken: "peertube-updater")
        #expect(!others.allows("/api/v1/config") && others.allows("/robots.txt"))
        #expect(RobotsRules(parsing: "User-agent: *\nDisallow:\n", productToken: "peertube-updater").allows("/api/v1/config"))
    }

    @Test func retryAfterParsesSecondsAndDates() {
        #expect(PoliteHTTPClient.retryAfterMs("7") == 7_000)
        #expect(PoliteHTTPClient.retryAfterMs("soon") == nil)
        let inTenSeconds = Date().addingTimeInterval(10)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        let ms = PoliteHTTPClient.retryAfterMs(formatter.string(from: inTenSeconds)) ?? -1
        #expect(ms > 8_000 && ms <= 10_000)
    }
}
}
