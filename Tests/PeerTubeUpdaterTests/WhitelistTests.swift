import Foundation
import Testing
@testable import PeerTubeSimulator
@testable import PeerTubeUpdater

extension Integration {
/// Whitelist parsing and host normalisation (the instances stage), and the instances stage over HTTP.
@Suite struct WhitelistTests {
    @Test(arguments: [
        ("Framatube.ORG", "framatube.org"), ("  tilvids.com\n", "tilvids.com"), ("https://video.blender.org/", "video.blender.org"),
        ("http://peertube.tv/videos/trending?a=1", "peertube.tv"), ("diode.zone.", "diode.zone"), ("diode.zone:443", "diode.zone"),
        ("peertube.tv/about", "peertube.tv"), ("xn--bcher-kva.example.org", "xn--bcher-kva.example.org"),
    ])
    func hostsAreNormalised(_ raw: String, _ expected: String) throws {
        #expect(try HostName.normalize(raw).get() == expected)
    }

    @Test(arguments: [
        ("localhost", "local name"), ("127.0.0.1", "IP address"), ("[::1]", "IP address"), ("http://10.0.0.1/", "IP address"),
        ("http://x/../", "not a fully qualified host name"), ("https://user:pw@tube.org/", "URL carries credentials"),
        ("tube.org:8080", "non-default port 8080"), ("bücher.de", "non-ASCII host name; give its punycode (xn--) form"),
        ("ftp://tube.org", "scheme 'ftp' is not http(s)"), ("file:///etc/passwd", "scheme 'file' is not http(s)"),
        ("tube..org", "empty label"), ("-bad.org", "label starts or ends with '-'"), ("a b.org", "contains spaces or control characters"),
        ("foo.local", "local name"), ("tube.org';DROP--", "invalid character in 'org';drop--'"),
        ("", "empty"),
    ])
    func junkIsRejectedWithAReason(_ raw: String, _ reason: String) {
        guard case .failure(let rejection) = HostName.normalize(raw) else {
            Issue.record("\(raw) was accepted")
            return
        }
        #expect(rejection.reason == reason)
    }

    @Test func hostileWhitelistIsNormalisedDedupedAndExplained() async throws {
        var entries: [Any] = []
        for index in 0..<10_000 {
            entries.append(["framatube.org", "FRAMATUBE.ORG.", "https://framatube.org/", "localhost", "127.0.0.1"][index % 5])
        }
        entries += [["host": "tilvids.com"], ["host": 42], 17, NSNull(), true, ["nested": ["host": "x.org"]], "http://a:b@peertube.tv",
                    "diode.zone", "xn--80ak6aa92e.com", "http://x/../"]
        let data = try JSONSerialization.data(withJSONObject: ["total": entries.count, "data": entries])
        let whitelist = try Whitelist(parsing: JSONValue.parse(data))
        #expect(whitelist.hosts == ["framatube.org", "tilvids.com", "diode.zone", "xn--80ak6aa92e.com"])
        #expect(whitelist.duplicates == 5_999)
        #expect(whitelist.rejected.count == 4_000 + 7)
        #expect(Set(whitelist.rejected.map(\.reason)).isSuperset(of: ["local name", "IP address", "entry is not a host string",
                                                                       "object without a string 'host'", "URL carries credentials"]))
        #expect(throws: FetchError.self) { try Whitelist(parsing: .object(["hosts": .array([])])) }
        // A bare list of strings is accepted too.
        #expect(try Whitelist(parsing: .array([.string("peertube.tv")])).hosts == ["peertube.tv"])

        // Through the instances stage, over HTTP: one log line per reason, not 10,000.
        let dir = try TempDir()
        let file = dir.path("whitelist.json")
        try data.write(to: URL(fileURLWithPath: file))
        let log = CapturedLog()
        let client = PoliteHTTPClient(options: HTTPClientOptions())
        defer { client.shutdown() }
        var options = CrawlOptions()
        options.maxInstances = 3
        let summary = try await InstancesCrawl.run(stagingPath: dir.path("s.db"), whitelistURL: file, client: client,
                                                   options: options, logger: log.logger)
        #expect(summary.hosts == 3)
        #expect(try fetchStrings(dir.path("s.db"), "SELECT host FROM instances ORDER BY host") == ["diode.zone", "framatube.org", "tilvids.com"])
        #expect(log.lines.count < 20)
        #expect(log.lines.contains { $0.contains("rejected 2000 entries (local name)") })
    }

    @Test func whitelistIsFetchedFromTheDirectory() async throws {
        let dir = try TempDir()
        let sim = try await RunningFederation.start(corpus: smallCorpus, directory: ["peertube.tv", "https://Diode.Zone/", "localhost"])
        defer { Task { await sim.stop() } }
        let client = PoliteHTTPClient(options: sim.clientOptions())
        defer { client.shutdown() }
        let summary = try await InstancesCrawl.run(stagingPath: dir.path("s.db"), whitelistURL: sim.whitelistURL, client: client,
                                                   options: CrawlOptions(), logger: quietLogger)
        #expect(summary.hosts == 2)
        #expect(try fetchStrings(dir.path("s.db"), "SELECT host FROM instance_crawl_progress WHERE status = 'pending' ORDER BY host") == ["diode.zone", "peertube.tv"])
    }
}
}
