import Foundation
import GRDB
import Testing
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

extension Integration {
/// Hostile instances mixed among healthy ones in one crawl, behind a whitelist of 10,000 entries that
/// are mostly junk. Every healthy host must be crawled in full, every hostile one must
/// end with its error on its row, no redirect may leave its host, text must be stored as it came,
/// and the crawl must end within the bound its timeouts set.
@Suite struct AdversarialFederationTests {
    struct Hostile {
        var host: String
        var faults: SimFaults.HostFaults
        /// `last_error` of the host's row starts with this; nil: the host is crawled in full.
        var error: String?
        /// The host is down for the crawl (`health_status` = error), not merely answering badly.
        var down = true
        /// Every channel and video of the host ends up in staging (its oddities cost no rows).
        var fullyCrawled: Bool { error == nil || error == "details_failed" }
    }

    static let trapHost = "trap.hostile.video"

    static func hostiles(trapAddress: String) -> [Hostile] {
        [
            Hostile(host: "ratelimited.hostile.video", faults: .init(rateLimited: -1, retryAfterSeconds: 1), error: "http_429"),
            Hostile(host: "hangs.hostile.video", faults: .init(hang: true), error: "timeout"),
            Hostile(host: "stalls-after-headers.hostile.video", faults: .init(hangAfterHeaders: true), error: "timeout"),
            Hostile(host: "dribbles.hostile.video", faults: .init(dribbleBytesPerSecond: 1), error: "timeout"),
            Hostile(host: "truncated.hostile.video", faults: .init(malformedJSON: true), error: "invalid_json"),
            Hostile(host: "html.hostile.video", faults: .init(htmlInsteadOfJSON: true), error: "not_json"),
            Hostile(host: "oversized.hostile.video", faults: .init(oversizedBody: true, oversizedBytes: 9 << 20), error: "too_large"),
            Hostile(host: "arrays-as-objects.hostile.video", faults: .init(payloadMutation: .arraysAsObjects), error: "invalid_json"),
            Hostile(host: "deep-junk.hostile.video", faults: .init(junkNestingDepth: 100_000), error: "invalid_json"),
            Hostile(host: "type-swap.hostile.video", faults: .init(payloadMutation: .typeSwap), error: "invalid_item", down: false),
            Hostile(host: "nulls.hostile.video", faults: .init(payloadMutation: .nulls), error: "invalid_item", down: false),
            Hostile(host: "huge-descriptions.hostile.video", faults: .init(hugeDescriptionBytes: 10 << 20), error: "details_failed",
                    down: false),
            Hostile(host: "redirects-away.hostile.video", faults: .init(redirectTo: "http://\(trapHost)"), error: "redirect_refused"),
            Hostile(host: "redirects-to-port.hostile.video", faults: .init(redirectTo: "http://\(trapAddress)"), error: "redirect_refused"),
            Hostile(host: "redirects-to-file.hostile.video", faults: .init(redirectTo: "file:///etc/passwd#"), error: "redirect_refused"),
            // Answers oddly but within what a tolerant reader accepts: crawled in full.
            Hostile(host: "numbers-as-strings.hostile.video", faults: .init(payloadMutation: .numbersAsStrings), error: nil),
            Hostile(host: "nested-junk.hostile.video", faults: .init(junkNestingDepth: 400), error: nil),
            Hostile(host: "odd-names.hostile.video", faults: .init(), error: nil),
        ]
    }

    /// 10,000 whitelist entries: the real hosts in every spelling, duplicated, among IP literals, local
    /// names, URLs with credentials or ports, non-ASCII names and plain garbage.
    static func junkWhitelist(hosts: [String]) -> [String] {
        let junk = ["127.0.0.1", "localhost", "[::1]", "http://user:pw@peertube.tv/", "https://tube.org:8080/", "bücher.de",
                    "10.0.0.1", "router.local", "", " ", "not a host", "http://x/../", "javascript:alert(1)", "a..b.org",
                    "-dash.org", "xn--bcher-kva.hostile.video"]
        var entries: [String] = []
        var index = 0
        while entries.count < 10_000 {
            let host = hosts[index % hosts.count]
            switch index % 6 {
            case 0: entries.append(host)
            case 1: entries.append(host.uppercased() + ".")
            case 2: entries.append("https://\(host)/videos/trending")
            default: entries.append(junk[index % junk.count])
            }
            index += 1
        }
        return entries
    }

    @Test func hostileHostsStayOnTheirRows() async throws {
        let trap = try await RunningFederation.start(corpus: SimCorpus(hosts: [Self.trapHost]))
        defer { Task { await trap.stop() } }
        let hostiles = Self.hostiles(trapAddress: trap.address)
        let healthy = SimCorpus.defaultHosts
        var shape = SimCorpus.Shape()
        shape.channelsPerInstance = 2
        shape.newChannelsPerInstance = 1
        shape.maxVideosPerChannel = 6
        shape.maxNewVideosPerChannel = 2
        let oddHost = "odd-names.hostile.video"
        let corpus = SimCorpus(hosts: healthy + hostiles.map(\.host), shape: shape).withHostileText(on: oddHost)
        let faults = SimFaults(hosts: Dictionary(uniqueKeysWithValues: hostiles.map { ($0.host, $0.faults) }))
        let sim = try await RunningFederation.start(corpus: corpus, faults: faults,
                                                    directory: Self.junkWhitelist(hosts: corpus.instances.map(\.host)))
        defer { Task { await sim.stop() } }

        // The bound: a hostile host's request costs at most (1 + retries) × timeout + retries × the
        // longest pause; the hosts run side by side (concurrency ≥ hosts), and a failed host gets no
        // further stage work, so the crawl ends within the healthy crawl's time + 4 stages × that.
        // 4 s an attempt: the simulator shares this process's two cooperative threads with the suites
        // beside it, and a healthy host must never time out under that load (2 s did, in make test).
        var client = sim.clientOptions(timeoutMs: 4_000, maxRetries: 1)
        client.concurrency = 32
        // A 429 uses no retry: a host answering only 429 costs its patience and one more pause.
        let worstRequestMs = max((1 + client.maxRetries) * client.timeoutMs + client.maxRetries * client.backoffCapMs,
                                 client.rateLimitPatienceMs + client.retryAfterCapMs)
        let dir = try TempDir()
        let baselineClock = ContinuousClock.now
        let healthySim = try await RunningFederation.start(corpus: SimCorpus(hosts: healthy, shape: shape))
        try await healthySim.crawlAll(into: dir.path("baseline.db"), client: client)
        await healthySim.stop()
        let baselineMs = baselineClock.elapsedMilliseconds

        let staging = dir.path("staging.db")
        let log = CapturedLog()
        let clock = ContinuousClock.now
        try await sim.crawlAll(into: staging, client: client, logger: log.logger)
        let elapsedMs = clock.elapsedMilliseconds
        let boundMs = 2 * baselineMs + 4 * worstRequestMs + 5_000
        print("adversarial federation: \(corpus.instances.count) hosts (\(hostiles.count) hostile), crawl \(elapsedMs) ms; bound \(boundMs) ms = 2 × healthy crawl \(baselineMs) ms + 4 stages × worst request \(worstRequestMs) ms + 5 s")
        #expect(elapsedMs <= boundMs, "crawl took \(elapsedMs) ms, bound \(boundMs) ms")

        // The whitelist's junk was refused; every real host was kept once.
        #expect(Set(try fetchStrings(staging, "SELECT host FROM instances")) == Set(corpus.instances.map(\.host) + ["xn--bcher-kva.hostile.video"]))

        // Healthy hosts, and hostile ones a tolerant reader copes with, are crawled in full.
        for host in healthy + hostiles.filter(\.fullyCrawled).map(\.host) {
            let instance = try #require(corpus.instance(host))
            #expect(try count(staging, "SELECT count(*) FROM videos WHERE instance_domain = ?", [host]) == instance.channels.flatMap(\.videos).count,
                    "\(host) fully crawled")
            #expect(try count(staging, "SELECT count(*) FROM channels WHERE instance_domain = ?", [host]) == instance.channels.count)
            #expect(try count(staging, "SELECT count(*) FROM instances WHERE host = ? AND health_status = 'ok'", [host]) == 1)
        }
        for host in healthy + hostiles.filter({ $0.error == nil }).map(\.host) {
            let lastError = try fetchRow(staging, "SELECT last_error FROM instances WHERE host = ?", [host])?["last_error"] as String?
            #expect(lastError == nil, "\(host): \(lastError ?? "")")
        }

        // Each hostile host's error is on its row.
        for hostile in hostiles {
            guard let expected = hostile.error else { continue }
            let row = try #require(try fetchRow(staging, "SELECT * FROM instances WHERE host = ?", [hostile.host]))
            let lastError: String = row["last_error"] ?? "nil"
            #expect(lastError.hasPrefix(expected), "\(hostile.host): \(lastError)")
            #expect(row["last_error_at"] != nil)
            #expect((row["health_status"] as String?) == (hostile.down ? "error" : "ok"), "\(hostile.host)")
        }
        let swapped = try #require(try fetchRow(staging, "SELECT last_error FROM instances WHERE host = 'type-swap.hostile.video'"))
        #expect((swapped["last_error"] as String?)?.contains("field `id` is text, expected integer") == true)
        // Huge descriptions: the list's data is kept, the refused details are on each video's row.
        let huge = "huge-descriptions.hostile.video"
        #expect(try count(staging, "SELECT count(*) FROM videos WHERE instance_domain = ? AND last_error LIKE 'details: too_large%' AND title IS NOT NULL AND length(description) <= 250", [huge])
            == corpus.instance(huge)!.channels.flatMap(\.videos).count)

        // Numbers sent as text are read as numbers.
        for video in corpus.instance("numbers-as-strings.hostile.video")!.channels.flatMap(\.videos) {
            let row = try #require(try fetchRow(staging, "SELECT views, duration, video_numeric_id FROM videos WHERE video_id = ?", [video.uuid]))
            #expect(row["views"] == Int64(video.views) && row["duration"] == Int64(video.duration) && row["video_numeric_id"] == Int64(video.id))
        }

        // No redirect left its host: the trap got nothing, on its own port or by name.
        #expect(trap.federation.requests.isEmpty)
        #expect(!sim.federation.requests.contains { $0.host == Self.trapHost })
        for hostile in hostiles where hostile.faults.redirectTo != nil {
            let attempts = sim.federation.requests.filter { $0.host == hostile.host && $0.path.hasPrefix("/api/") }
            #expect(attempts.count == 1, "\(hostile.host): redirects are refused, not retried")
        }
        // Bounded retries: the channel list of a failing host was asked at most 1 + retries times (a
        // rate-limited one once per Retry-After within its patience, and once more at its end).
        for hostile in hostiles where hostile.down {
            let attempts = sim.federation.requests.filter { $0.host == hostile.host && $0.path.hasPrefix("/api/v1/video-channels?") }
            let most = hostile.faults.rateLimited != nil ? 2 + client.rateLimitPatienceMs / 1_000 : 1 + client.maxRetries
            #expect(attempts.count <= most, "\(hostile.host): \(attempts.count) attempts")
        }

        // Odd names: every channel reached under its own name, text stored byte for byte.
        let odd = try #require(corpus.instance(oddHost))
        let storedNames = try fetchStrings(staging, "SELECT channel_name FROM channels WHERE instance_domain = ?", [oddHost])
        #expect(Set(storedNames) == Set(odd.channels.map(\.name)))
        let oddRequests = sim.federation.requests.filter { $0.host == oddHost }
        #expect(oddRequests.allSatisfy { $0.status == 200 || $0.path == "/robots.txt" }, "\(oddRequests.filter { $0.status != 200 }.map(\.path))")
        #expect(!oddRequests.contains { $0.path.contains("/../") || $0.path.contains("/./") || $0.path.hasSuffix("/..") })
        for channel in odd.channels {
            #expect(oddRequests.contains { $0.path.hasPrefix("/api/v1/video-channels/\(channel.name.urlPathSegment)/videos?") }, "\(channel.name)")
        }
        for video in odd.channels.flatMap(\.videos) {
            let stored = try #require(try fetchRow(staging, "SELECT hex(title) AS title, hex(description) AS description FROM videos WHERE video_id = ?", [video.uuid]))
            #expect(stored["title"] == hex(video.name), "\(video.name)")
            #expect(stored["description"] == hex(video.description))
        }
        #expect(try fetchStrings(staging, "PRAGMA integrity_check") == ["ok"])
        #expect(try count(staging, "SELECT count(*) FROM sqlite_master WHERE name = 'videos'") == 1)
        // A 10,000-entry whitelist explained in a few lines, not 10,000.
        #expect(log.lines.filter { $0.contains("instances: rejected") }.count < 20)
    }

    private func hex(_ text: String) -> String { text.utf8.map { String(format: "%02X", $0) }.joined() }
}
}
