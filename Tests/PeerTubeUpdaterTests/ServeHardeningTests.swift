import Foundation
import HTTPServing
@testable import PeerTubeServe
@testable import PeerTubeUpdater
import Testing

/// The `serve` binary over a corpus, as a child process: its own threads, so a busy test process
/// (other suites run beside these) cannot delay its answers. `shell`: started through `sh -c`, to set
/// limits first.
struct ServeProcess {
    let process: Process
    let port: Int
    let log: String

    init(_ served: ServedCorpus, dir: TempDir, arguments extra: [String] = [], shell prefix: String? = nil) async throws {
        let log = dir.path("serve.log")
        let arguments = ["serve", "--prod-db", served.options.prodPath, "--index", served.options.indexPath, "--index-meta", served.options.metaPath,
                         "--similarity-db", served.options.cachePath, "--no-text-search", "--port", "0", "--log-file", log] + extra
        let process = Process()
        if let prefix {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", prefix + "; exec \"$0\" \"$@\"", updaterBinary().path] + arguments
        } else {
            process.executableURL = updaterBinary()
            process.arguments = arguments
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: dir.path("stderr.log")) ?? FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening on http://") }),
               let port = line.split(separator: " ").first(where: { $0.hasPrefix("http://") })?.split(separator: ":").last.flatMap({ Int($0) }) {
                (self.process, self.port, self.log) = (process, port, log)
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.terminate()
        throw POSIXError(.ETIMEDOUT)
    }

    /// Runs `serve` for `body`, which gets its port; then stops it.
    static func with(_ served: ServedCorpus, arguments: [String] = [], _ body: (Int) async throws -> Void) async throws {
        let dir = try TempDir()
        let serve = try await ServeProcess(served, dir: dir, arguments: arguments)
        defer {
            serve.process.terminate()
            serve.process.waitUntilExit()
            withExtendedLifetime(served) {}  // its files live until serve is done
        }
        try await body(serve.port)
    }
}

extension Integration {
/// `serve` against clients no URL library would be: oversized and malformed requests get a 4xx problem
/// at once, stalled connections are dropped, the connection cap answers 503, and HTTP as RFC 9110 says.
@Suite("Serve hardening", .serialized)
struct ServeHardeningTests {
    static func corpus() throws -> ServedCorpus { try ServedCorpus(videos: 200) }

    @Test("oversized request lines get 414, oversized or too many headers 431, each within a second; /healthz answers meanwhile")
    func oversizedRequestsAreRefusedFast() async throws {
        try await ServeProcess.with(Self.corpus()) { port in
            let cases: [(String, Int)] = [
                ("GET /healthz?q=\(String(repeating: "a", count: 100_000)) HTTP/1.1\r\nHost: x\r\n\r\n", 414),
                ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 65_536))\r\n\r\n", 431),
                ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 262_144))\r\n\r\n", 431),
                ("GET /healthz HTTP/1.1\r\nHost: x\r\n" + (0..<150).map { "X-H\($0): v\r\n" }.joined() + "\r\n", 431),
            ]
            for (request, status) in cases {
                let clock = ContinuousClock.now
                let connection = try RawHTTPConnection(port: port)
                connection.send(request)
                let response = connection.response()
                #expect(response?.status == status, "\(request.prefix(40))…: \(String(describing: response?.status))")
                #expect(response?.json["status"] as? Int == status, "a problem body")
                #expect(clock.duration(to: .now) < .seconds(1))
                #expect(connection.read(timeout: .seconds(2)).closed, "the connection closes after a refusal")
            }
            // Two clients sending huge headers do not hold /healthz up (median of five, each under a second).
            let slow = try (0..<2).map { _ in try RawHTTPConnection(port: port) }
            for connection in slow { connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "c", count: 200_000)) }
            var times: [Duration] = []
            for _ in 0..<5 {
                let clock = ContinuousClock.now
                let health = try RawHTTPConnection(port: port)
                health.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(health.response()?.status == 200)
                times.append(clock.duration(to: .now))
            }
            #expect(times.sorted()[2] < .milliseconds(100) && times.allSatisfy { $0 < .seconds(1) }, "healthz beside them: \(times)")
        }
    }

    @Test("malformed requests get a 400 problem, unknown methods a 405 problem with Allow")
    func malformedRequestsGetProblems() async throws {
        try await ServeProcess.with(Self.corpus()) { port in
            let cases: [(String, Int)] = [
                ("GET /healthz\r\n\r\n", 400),                                                      // no version
                ("\u{01}\u{02}garbage\u{7f} \r\n\r\n", 400),                                          // not HTTP
                ("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
                ("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
                ("FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 405),
                ("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
                ("DELETE /api/v1/videos/a.example/v-1-1 HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            ]
            for (request, status) in cases {
                let clock = ContinuousClock.now
                let connection = try RawHTTPConnection(port: port)
                connection.send(request)
                let response = connection.response()
                #expect(response?.status == status, "\(request.debugDescription.prefix(50)): \(String(describing: response?.status))")
                #expect(response?.json["status"] as? Int == status && (response?.json["detail"] as? String)?.isEmpty == false, "a problem body")
                if status == 405 { #expect(response?.headers["allow"] == "GET, HEAD") }
                #expect(clock.duration(to: .now) < .seconds(1))
            }
        }
    }

    @Test("HEAD answers GET's headers, Content-Length included, and no body")
    func headHasGETsHeaders() async throws {
        try await ServeProcess.with(Self.corpus()) { port in
            let path = "/api/v1/videos/\(ServedCorpus.host)/v-1-1"
            let get = try RawHTTPConnection(port: port)
            get.send("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let full = try #require(RawHTTPResponse(get.read(timeout: .seconds(2)).data))
            let head = try RawHTTPConnection(port: port)
            head.send("HEAD \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let (data, closed) = head.read(timeout: .seconds(2))
            let response = try #require(RawHTTPResponse(data))
            #expect(full.status == 200 && response.status == 200)
            #expect(response.headers["content-length"] == String(full.body.count) && full.body.count > 100)
            #expect(response.headers["content-type"] == full.headers["content-type"])
            #expect(response.body.isEmpty && closed, "no body after the head")
        }
    }

    @Test("half-sent and idle connections are closed after the idle timeout; requests are answered meanwhile")
    func stalledConnectionsAreDropped() async throws {
        try await ServeProcess.with(Self.corpus(), arguments: ["--idle-timeout", "1"]) { port in
            let halfSent = try (0..<200).map { _ in try RawHTTPConnection(port: port) }
            for (i, connection) in halfSent.enumerated() { connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Part: \(i)") }
            let idle = try (0..<50).map { _ in try RawHTTPConnection(port: port) }
            let health = try RawHTTPConnection(port: port)
            health.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(health.response()?.status == 200, "answered beside 250 stalled connections")
            let closed = (halfSent + idle).filter { $0.read(timeout: .seconds(3)).closed }.count
            #expect(closed == 250, "\(closed) of 250 stalled connections dropped")
        }
    }

    @Test("past the connection cap a new connection is answered 503; under it, answers go on")
    func theCapRefusesWith503() async throws {
        try await ServeProcess.with(Self.corpus(), arguments: ["--max-connections", "20"]) { port in
            var held = try (0..<20).map { _ in try RawHTTPConnection(port: port) }
            try await Task.sleep(for: .milliseconds(200))
            let extra = try RawHTTPConnection(port: port)
            extra.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            let refused = extra.response()
            #expect(refused?.status == 503 && refused?.json["status"] as? Int == 503)
            held.removeAll()
            try await Task.sleep(for: .milliseconds(200))
            let later = try RawHTTPConnection(port: port)
            later.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(later.response()?.status == 200, "answered again once connections closed")
        }
    }

    @Test("1,100 idle connections at once: serve keeps answering")
    func manyIdleConnectionsSurvive() async throws {
        FileDescriptorLimit.raised()  // this process holds the clients' 1,100 sockets
        try await ServeProcess.with(Self.corpus()) { port in
            let idle = try (0..<1_100).map { _ in try RawHTTPConnection(port: port) }
            for _ in 0..<5 {
                let health = try RawHTTPConnection(port: port)
                health.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(health.response()?.status == 200)
            }
            #expect(idle.count == 1_100)
        }
    }
}
}

extension Integration {
/// The `serve` binary: SIGTERM ends it cleanly in time, and running out of descriptors refuses
/// connections instead of ending it.
@Suite("Serve process", .serialized)
struct ServeProcessTests {
    @Test("SIGTERM: serve stops accepting, finishes, and exits 0 well within its grace period; no concurrency misuse in its log")
    func sigtermEndsItCleanly() async throws {
        let dir = try TempDir()
        let served = try ServedCorpus(videos: 100)
        defer { withExtendedLifetime(served) {} }
        let serve = try await ServeProcess(served, dir: dir)
        let (process, port, log) = (serve.process, serve.port, serve.log)
        let keptAlive = try RawHTTPConnection(port: port)  // an idle kept-alive connection must not hold the exit up
        keptAlive.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(keptAlive.response()?.status == 200)
        let clock = ContinuousClock.now
        process.terminate()
        while process.isRunning, clock.duration(to: .now) < .seconds(15) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning && process.terminationReason == .exit && process.terminationStatus == 0)
        #expect(clock.duration(to: .now) < .seconds(10), "exit within the grace period")
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? "", errors = (try? String(contentsOfFile: dir.path("stderr.log"), encoding: .utf8)) ?? ""
        #expect(!(text + errors).contains("MISUSE"), "\(text.suffix(300)) \(errors.suffix(300))")
        #expect(text.contains("serve: stopped"))
    }

    @Test("with 300 descriptors and 400 clients: the extra connections are refused with 503 or wait, serve lives and answers after")
    func runningOutOfDescriptorsIsSurvived() async throws {
        let dir = try TempDir()
        let served = try ServedCorpus(videos: 100)
        defer { withExtendedLifetime(served) {} }
        let serve = try await ServeProcess(served, dir: dir, shell: "ulimit -n 300")
        let (process, port) = (serve.process, serve.port)
        defer { process.terminate() }
        var clients = (0..<400).compactMap { _ in try? RawHTTPConnection(port: port) }
        for client in clients { client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") }
        let statuses = clients.prefix(400).compactMap { $0.response(timeout: .milliseconds(300))?.status }
        #expect(statuses.contains(503), "connections past the cap are refused with 503")
        #expect(!statuses.contains { $0 != 200 && $0 != 503 })
        #expect(process.isRunning, "serve is still running")
        clients.removeAll()
        try await Task.sleep(for: .milliseconds(500))
        let later = try RawHTTPConnection(port: port)
        later.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(later.response()?.status == 200)
    }
}
}

/// `publishedAt` and every time `serve` writes: exact to the millisecond.
@Suite struct MillisecondTimeTests {
    @Test func millisecondsAreExact() {
        // Each of these loses its last millisecond through Double(ms) / 1000.
        for (ms, text) in [(Int64(1_608_245_608_152), "2020-12-17T22:53:28.152Z"), (1_700_000_000_001, "2023-11-14T22:13:20.001Z"),
                           (1_577_836_800_999, "2020-01-01T00:00:00.999Z"), (0, "1970-01-01T00:00:00.000Z"),
                           (-1, "1969-12-31T23:59:59.999Z")] {
            #expect(MillisecondTime.iso8601(ms) == text)
        }
        var wrong = 0
        for ms in stride(from: Int64(1_600_000_000_000), to: 1_600_000_001_000, by: 1) {
            let text = MillisecondTime.iso8601(ms)
            if Int(text.dropLast().suffix(3)) != Int(ms % 1000) { wrong += 1 }
        }
        #expect(wrong == 0)
    }
}
