import FlyingFox
import HTTPServing
import PeerTubeUpdater
import FlyingSocks
import Foundation
import Synchronization

/// The simulated federation on 127.0.0.1: one HTTP server answering for every corpus host (it
/// dispatches on the Host header; clients route the real names here like curl's `--connect-to`),
/// for the directory, and with per-host faults. Every request is logged.
public final class SimulatedFederation: Sendable {
    public struct RequestRecord: Sendable, Equatable {
        public var host: String
        public var path: String
        public var status: Int
        public var userAgent: String
        /// When the answer was ready, on the continuous clock.
        public var at = ContinuousClock.now
    }

    public let api: SimAPI
    public let faults: SimFaults
    private let hostFaults: (byHost: [String: SimFaults.HostFaults], others: SimFaults.HostFaults)
    private let server: HTTPServer
    private let runTask = Mutex<Task<Void, Error>?>(nil)
    private let records = Mutex<[RequestRecord]>([])
    private let apiRequestCounts = Mutex<[String: Int]>([:])
    /// The API's answers by host and request (see `answer`).
    private let answers = Mutex<[String: SimResponse]>([:])
    private static let answersKept = 50_000
    private let rateWindows = Mutex<[String: (startMs: Int64, count: Int)]>([:])
    private let logSink: FileHandle?
    private let logLock = Mutex(())
    private let stopped = Atomic<Bool>(false)

    // MARK: - Lifecycle

    /// `logPath`: one line per request is appended there.
    public init(api: SimAPI, faults: SimFaults = SimFaults(), port: UInt16 = 0, logPath: String? = nil) throws {
        self.api = api
        self.faults = faults
        hostFaults = faults.resolved()
        server = try HTTPServer.noDelay(ip4: "127.0.0.1", port: port, timeout: 60)
        if let logPath {
            if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
            logSink = FileHandle(forWritingAtPath: logPath)
            logSink?.seekToEndOfFile()
        } else {
            logSink = nil
        }
    }

    /// Starts listening; returns the bound `127.0.0.1:PORT`.
    @discardableResult
    public func start() async throws -> String {
        await server.appendRoute("*") { [self] request in await handle(request) }
        let task = Task { [server] in try await server.run() }
        runTask.withLock { $0 = task }
        try await server.waitUntilListening(timeout: 60)  // its default 5 s is too short on a loaded 2-core machine
        let address = try await address()
        if let port = UInt16(address.split(separator: ":").last ?? "") { Self.disableNagle(listeningOn: port) }
        return address
    }

    /// FlyingFox writes a response's head and body in two writes; with Nagle's algorithm on, the body
    /// waits for the client's delayed ACK (40 ms on Linux) and every request costs 40 ms. Linux copies
    /// TCP_NODELAY from a listening socket to the sockets it accepts, so it is set there. FlyingFox
    /// does not expose its socket: find it among this process's descriptors by its port.
    private static func disableNagle(listeningOn port: UInt16) {
        for fd in Int32(3)..<Int32(4096) {
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0, address.sin_family == sa_family_t(AF_INET), UInt16(bigEndian: address.sin_port) == port else { continue }
            var listening: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0, listening == 1 else { continue }
            var on: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    public func address() async throws -> String {
        guard case .ip4(let ip, let port) = await server.listeningAddress else { throw SimError("simulator is not listening") }
        return "\(ip):\(port)"
    }

    public func stop() async {
        stopped.store(true, ordering: .sequentiallyConsistent)
        await server.stop(timeout: 0)
        runTask.withLock { $0?.cancel() }
        // The log file stays open: a request still in flight may write its line; the handle closes
        // with the simulator.
    }

    /// Requests served so far, in arrival order.
    public var requests: [RequestRecord] { records.withLock { $0 } }

    // MARK: - Answering

    private func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let host = (request.headers[.host] ?? "").split(separator: ":").first.map { $0.lowercased() } ?? ""
        let path = request.target.path(percentEncoded: true)
        var query: [String: String] = [:]
        for item in request.query { query[item.name] = item.value }
        let response = await respond(host: host, path: path, query: query, faults: hostFaults.byHost[host] ?? hostFaults.others)
        let record = RequestRecord(host: host, path: request.target.rawValue, status: response.status,
                                   userAgent: request.headers[HTTPHeader("User-Agent")] ?? "")
        records.withLock { $0.append(record) }
        if let logSink {
            let line = "\(MillisecondTime.iso8601(Int64(Date().timeIntervalSince1970 * 1000))) \(host) GET \(record.path) \(response.status) \(response.body.count)\n"
            logLock.withLock { _ in logSink.write(Data(line.utf8)) }
        }
        let status = HTTPStatusCode(response.status, phrase: Self.phrase(response.status))
        let headers = HTTPHeaders(Dictionary(uniqueKeysWithValues: response.headers.map { (HTTPHeader($0.key), $0.value) }))
        guard let pacing = response.pacing else { return HTTPResponse(statusCode: status, headers: headers, body: response.body) }
        let rate: Int? = if case .bytesPerSecond(let rate) = pacing { rate } else { nil }
        let paced = PacedBody(data: response.body, bytesPerSecond: rate) { [self] in stopped.load(ordering: .sequentiallyConsistent) }
        return HTTPResponse(statusCode: status, headers: headers,
                            body: HTTPBodySequence(from: paced, count: response.body.count))
    }

    private func respond(host: String, path: String, query: [String: String], faults: SimFaults.HostFaults) async -> SimResponse {
        if let latency = faults.latencyMs, latency > 0 { try? await Task.sleep(for: .milliseconds(latency), tolerance: .zero) }
        if path == "/robots.txt", faults.robotsDisallowAPI == true {
            return .text("User-agent: *\nDisallow: /api/\n")
        }
        guard path.hasPrefix("/api/") else { return answer(host: host, path: path, query: query) }
        let n = apiRequestCounts.withLock { counts -> Int in
            counts[host, default: 0] += 1
            return counts[host]!
        }
        if faults.hang == true {
            // Accept and never answer (until the simulator stops).
            for _ in 0..<36_000 where !stopped.load(ordering: .sequentiallyConsistent) {
                try? await Task.sleep(for: .milliseconds(100))
            }
            return SimResponse(status: 504)
        }
        var rateHeaders: [String: String] = [:]
        if let rule = faults.peertubeRateLimit {
            let (headers, refused) = countInWindow(host: host, rule: rule)
            if let refused { return refused }
            rateHeaders = headers
        }
        if let limit = faults.rateLimited, limit < 0 || n <= limit {
            let retryAfter = faults.retryAfterSeconds ?? 2
            return SimResponse(status: 429, headers: [
                "Retry-After": String(retryAfter), "X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": String(Int(Date().timeIntervalSince1970) + retryAfter),
                "Content-Type": "text/html; charset=utf-8",
            ], body: Data("Too many requests, please try again later.".utf8))
        }
        // The same videos fail on every request: chosen by their path, not by arrival order.
        let failingDetails = faults.detailsServerErrorEvery.map { every in
            every > 0 && path.hasPrefix("/api/v1/videos/") && path.utf8.reduce(UInt(0)) { $0 &* 31 &+ UInt($1) } % UInt(every) == 0
        } ?? false
        if failingDetails || faults.serverErrors.map({ $0 < 0 || n <= $0 }) == true {
            return .text("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
                         status: 502, type: "text/html")
        }
        if let foreign = faults.foreign404 { return foreign.response(path: path) }
        if faults.channelVideosNotFound == true, path.hasPrefix("/api/v1/video-channels/"), path.hasSuffix("/videos") {
            return .notFound("Video channel not found", instance: path)
        }
        if let target = faults.redirectTo {
            let query = query.isEmpty ? "" : "?" + query.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
            return SimResponse(status: 302, headers: ["Location": target + path + query])
        }
        if faults.htmlInsteadOfJSON == true { return .spaPage }
        if faults.oversizedBody == true {
            let size = faults.oversizedBytes ?? 12 << 20
            var body = Data("{\"total\":1,\"data\":[],\"padding\":\"".utf8)
            body.append(Data(repeating: UInt8(ascii: "x"), count: size))
            body.append(Data("\"}".utf8))
            return SimResponse(status: 200, headers: ["Content-Type": "application/json"], body: body)
        }
        if let every = faults.detailsNotFoundEvery, every > 0, path.hasPrefix("/api/v1/videos/"), n % every == 0 {
            return .notFound("Video not found", instance: path)
        }
        var response = answer(host: host, path: path, query: query)
        let isJSON = response.headers["Content-Type"]?.contains("json") == true && response.body.count > 1
        if isJSON, response.status == 200 {
            response.body = SimPayloadFaults.apply(faults, to: response.body, isVideoDetails: path.hasPrefix("/api/v1/videos/"))
        }
        if faults.malformedJSON == true, isJSON {
            response.body = response.body.prefix(response.body.count / 2)
        }
        if faults.hangAfterHeaders == true { response.pacing = .stallAfterHeaders }
        if let rate = faults.dribbleBytesPerSecond, rate > 0 { response.pacing = .bytesPerSecond(rate) }
        response.headers["X-Powered-By"] = "PeerTube"
        response.headers.merge(rateHeaders) { _, limit in limit }
        return response
    }

    /// `api`'s answer, computed once per host and request: `api` never changes, and walking the corpus
    /// and encoding JSON cost ~2 ms of CPU per request, more than the crawler spends on it, so the
    /// simulator rather than the client set the pace of the crawl benchmark. Faults apply afterwards.
    private func answer(host: String, path: String, query: [String: String]) -> SimResponse {
        let key = host + " " + path + "?" + query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        if let known = answers.withLock({ $0[key] }) { return known }
        let response = api.respond(host: host, path: path, query: query)
        answers.withLock { answers in
            if answers.count >= Self.answersKept { answers.removeAll(keepingCapacity: true) }
            answers[key] = response
        }
        return response
    }

    // MARK: - Rate limit

    /// Counts one API request in `host`'s window: its rate-limit headers, and the 429 answer when the
    /// window is spent.
    private func countInWindow(host: String, rule: SimFaults.PeerTubeRateLimit) -> ([String: String], SimResponse?) {
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let (startMs, count) = rateWindows.withLock { windows -> (Int64, Int) in
            var window = windows[host] ?? (nowMs, 0)
            if nowMs >= window.startMs + Int64(rule.window) { window = (nowMs, 0) }
            window.count += 1
            windows[host] = window
            return window
        }
        let resetMs = startMs + Int64(rule.window)
        let secondsToReset = max(0, Int((resetMs - nowMs + 999) / 1000))
        var headers = [
            "X-RateLimit-Limit": String(rule.limit),
            "X-RateLimit-Remaining": String(max(0, rule.limit - count)),
            "X-RateLimit-Reset": String((resetMs + 999) / 1000),
        ]
        if rule.standardHeaders ?? true {
            headers["RateLimit-Policy"] = "\(rule.limit);w=\(max(1, rule.window / 1000))"
            headers["RateLimit-Limit"] = String(rule.limit)
            headers["RateLimit-Remaining"] = String(max(0, rule.limit - count))
            headers["RateLimit-Reset"] = String(secondsToReset)
        }
        guard count > rule.limit else { return (headers, nil) }
        headers["Retry-After"] = String(secondsToReset)
        headers["Content-Type"] = "text/html; charset=utf-8"
        return (headers, SimResponse(status: 429, headers: headers, body: Data("Too many requests, please try again later.".utf8)))
    }

    private static func phrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 302: "Found"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 421: "Misdirected Request"
        case 429: "Too Many Requests"
        case 502: "Bad Gateway"
        default: "Status"
        }
    }
}
