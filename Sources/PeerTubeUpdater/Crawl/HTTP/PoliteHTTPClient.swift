import CCurl
import Foundation
import Synchronization

/// A JSON document fetched from a host, with the scheme that served it (relative paths in PeerTube
/// payloads resolve against it).
public struct FetchedJSON: Sendable {
    public var json: JSONValue
    public var scheme: String
    public var url: String
}

/// The crawler's HTTP client over libcurl: bounded concurrency overall and per host, a per-host pace
/// learnt from 429s and rate-limit headers (`HostPacer`), retries with exponential backoff for
/// timeouts, network errors and 5xx, no retry for other 4xx, a body-size cap, redirects only within
/// the same host, robots.txt, a named User-Agent, scheme fallback, and loopback routing of real host
/// names.
public final class PoliteHTTPClient: Sendable {
    public let options: HTTPClientOptions
    private let engine: CurlEngine
    private let global: AsyncLimiter
    private let hosts: HostStates
    private let counters = Mutex(RequestCounters())

    /// Requests made so far (every attempt, robots.txt included), and how many were retries.
    public struct RequestCounters: Sendable {
        public var requests = 0
        public var retries = 0
        public var bytes = 0
    }

    public init(options: HTTPClientOptions) {
        self.options = options
        engine = CurlEngine(maxConnections: options.concurrency * 4)
        global = AsyncLimiter(limit: options.concurrency)
        hosts = HostStates(perHost: options.perHostConcurrency)
    }

    /// Ends the transfer thread. Further requests fail with a network error.
    public func shutdown() { engine.shutdown() }

    public var requestCounters: RequestCounters { counters.withLock { $0 } }

    /// The spacing of requests `host` has been slowed to (nil: never paced, full speed), and the 429
    /// answers it gave.
    public func pace(of host: String) async -> (interval: Duration?, rateLimitedAnswers: Int) {
        let pacer = await hosts.pacer(for: host)
        return (await pacer.currentInterval, await pacer.rateLimitedAnswers)
    }

    /// GETs `pathAndQuery` (starting with `/`) from `host` and parses the JSON body.
    ///
    /// - Throws: `FetchError` classifying why no usable JSON came back (timeout, network, HTTP status, not
    ///   JSON, too large, redirect refused, robots, host unavailable).
    public func getJSON(host: String, _ pathAndQuery: String) async throws -> FetchedJSON {
        if await hosts.isCircuitOpen(host, threshold: options.circuitBreakerThreshold) {
            throw FetchError(.hostUnavailable, "\(host): skipped after \(options.circuitBreakerThreshold) failed requests in a row")
        }
        let pacer = await hosts.pacer(for: host)
        if await pacer.rateLimitedTooLong(patience: .milliseconds(options.rateLimitPatienceMs)) {
            throw await rateLimitedTooLong(host, pacer: pacer, url: "\(host)\(pathAndQuery)")
        }
        let schemes = await hosts.schemeOrder(host, preferred: options.schemes)
        var lastError = FetchError(.invalidURL, "no scheme to try for \(host)")
        for (index, scheme) in schemes.enumerated() {
            let retries = index == 0 ? options.maxRetries : max(1, options.maxRetries / 2)
            do {
                if options.respectRobots {
                    let rules = await robots(host: host, scheme: scheme)
                    guard rules.allows(pathAndQuery) else {
                        throw FetchError(.robotsDisallowed, "robots.txt of \(host) disallows \(pathAndQuery)")
                    }
                }
                let url = "\(scheme)://\(host)\(pathAndQuery)"
                let (json, finalURL) = try await fetchJSON(url: url, originHost: host, retries: retries)
                await hosts.recordSuccess(host, scheme: scheme)
                return FetchedJSON(json: json, scheme: scheme, url: finalURL)
            } catch let error as FetchError {
                lastError = error
                // Another scheme helps only when this one could not be spoken at all.
                if error.kind != .network && error.kind != .tls { break }
            }
        }
        if lastError.isHostFailure { await hosts.recordFailure(host) }
        throw lastError
    }

    /// GETs an absolute URL (the whitelist) and parses the JSON body. No robots.txt, same retries.
    ///
    /// - Throws: `FetchError` classifying why no usable JSON came back (timeout, network, HTTP status, not
    ///   JSON, too large, redirect refused, robots, host unavailable).
    public func getJSON(url: String) async throws -> FetchedJSON {
        guard let components = URLComponents(string: url), let host = components.host,
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw FetchError(.invalidURL, "not an http(s) URL: \(url)")
        }
        let (json, finalURL) = try await fetchJSON(url: url, originHost: host, retries: options.maxRetries)
        return FetchedJSON(json: json, scheme: scheme, url: finalURL)
    }

    // MARK: - One logical request: retries, backoff, redirects

    private func fetchJSON(url start: String, originHost: String, retries: Int) async throws -> (JSONValue, String) {
        var url = start
        var attempt = 0
        var redirects = 0
        var backoffMs = options.backoffBaseMs
        while true {
            let response = await perform(url: url, host: originHost, accept: "application/json")
            let outcome = classify(response, url: url)
            switch outcome {
            case .redirect(let target):
                redirects += 1
                guard redirects <= options.maxRedirects else {
                    throw FetchError(.redirectRefused, "more than \(options.maxRedirects) redirects from \(start)")
                }
                url = try sameHostRedirect(from: url, to: target, originHost: originHost)
                continue
            case .success(let body, let contentType):
                return (try parseJSON(body, contentType: contentType, url: url), url)
            case .failure(let error):
                if case .http(429) = error.kind, !Task.isCancelled {
                    // The host is alive and asks for a slower pace: its pacer pauses it and learns the
                    // rate. No retry budget is used; the host's patience bounds the waiting.
                    let pacer = await hosts.pacer(for: originHost)
                    if await pacer.rateLimitedTooLong(patience: .milliseconds(options.rateLimitPatienceMs)) {
                        throw await rateLimitedTooLong(originHost, pacer: pacer, url: url)
                    }
                    counters.withLock { $0.retries += 1 }
                    continue
                }
                guard error.isRetryable, attempt < retries, !Task.isCancelled else { throw error }
                attempt += 1
                let pauseMs = min(backoffMs, options.backoffCapMs)
                backoffMs = min(backoffMs * 2, options.backoffCapMs)
                counters.withLock { $0.retries += 1 }
                try? await Task.sleep(for: .milliseconds(pauseMs))
            }
        }
    }

    private func rateLimitedTooLong(_ host: String, pacer: HostPacer, url: String) async -> FetchError {
        let seconds = Int(await pacer.rateLimitedFor.seconds.rounded())
        return FetchError(.http(429), "HTTP 429 for \(url): \(host) answered only 429 for \(seconds) s (\(await pacer.rateLimitedAnswers) answers), past the patience of \(options.rateLimitPatienceMs / 1000) s")
    }

    private func perform(url: String, host: String, accept: String) async -> CurlResponse {
        let request = CurlRequest(
            url: url, timeoutMs: options.timeoutMs, connectTimeoutMs: min(options.timeoutMs, 5_000),
            maxBodyBytes: options.maxBodyBytes, userAgent: options.userAgent, accept: accept,
            connectTo: connectTo(host))
        let hostLimiter = await hosts.limiter(for: host)
        let pacer = await hosts.pacer(for: host)
        await hostLimiter.acquire()
        await pacer.waitTurn()
        await global.acquire()
        let response = await engine.perform(request)
        await global.release()
        await pacer.observe(status: response.curlCode == 0 ? response.status : 0, headers: response.headers,
                            retryAfterCapMs: options.retryAfterCapMs, fallbackPauseMs: options.backoffBaseMs)
        await hostLimiter.release()
        counters.withLock {
            $0.requests += 1
            $0.bytes += response.body.count
        }
        return response
    }

    private func connectTo(_ host: String) -> [String] {
        guard let address = options.routes[host] ?? (HostName.isIPLiteral(host) ? nil : options.routes["*"]) else {
            return []
        }
        return ["\(host)::\(address)"]
    }

    private enum Outcome {
        case success(Data, contentType: String?)
        case redirect(String)
        case failure(FetchError)
    }

    private func classify(_ response: CurlResponse, url: String) -> Outcome {
        if response.bodyTooLarge {
            return .failure(FetchError(.tooLarge, "body over \(options.maxBodyBytes) bytes from \(url)"))
        }
        if response.curlCode != 0 {
            let detail = response.curlError ?? "curl error \(response.curlCode)"
            let code = CURLcode(rawValue: UInt32(response.curlCode))
            switch code {
            case CURLE_OPERATION_TIMEDOUT:
                return .failure(FetchError(.timeout, "no complete answer within \(options.timeoutMs) ms from \(url)"))
            case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
                 CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR:
                return .failure(FetchError(.tls, "\(detail) (\(url))"))
            case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
                return .failure(FetchError(.invalidURL, "\(detail) (\(url))"))
            default:
                return .failure(FetchError(.network, "\(detail) (\(url))"))
            }
        }
        switch response.status {
        case 200..<300:
            return .success(response.body, contentType: response.headers["content-type"])
        case 300..<400 where response.redirectURL != nil:
            return .redirect(response.redirectURL!)
        default:
            let shaped = FetchError.hasPeerTubeErrorShape(response.body, contentType: response.headers["content-type"], status: response.status)
            var error = FetchError(.http(response.status), "HTTP \(response.status) for \(url)"
                                   + (shaped ? "" : " (\(response.headers["content-type"] ?? "no content type"), not PeerTube's error shape)"))
            error.peerTubeShaped = shaped
            return .failure(error)
        }
    }

    // MARK: - Is it PeerTube?

    /// The `serverVersion` `host` gives at `/api/v1/config`, asked once per client (one client is
    /// one run): nil when the host does not answer as PeerTube does (another server now holds the
    /// domain, a proxy answers for `/api`, or it failed).
    public func peerTubeVersion(of host: String) async -> String? {
        await hosts.identity(host) { [self] in
            guard let config = try? await getJSON(host: host, "/api/v1/config"),
                  let version = config.json["serverVersion"]?.string, !version.isEmpty else { return nil }
            return version
        }
    }

    /// True only when `error` is PeerTube's own answer that the thing asked for does not exist: a 404
    /// in PeerTube's error shape, from a host that answered as PeerTube in this run. Anything else
    /// (a plain-text or HTML 404, JSON from another server) is a failure of the host, never a
    /// deletion.
    public func confirmsNotFound(_ error: FetchError, on host: String) async -> Bool {
        guard error.kind == .http(404), error.peerTubeShaped else { return false }
        return await peerTubeVersion(of: host) != nil
    }

    /// The redirect target when it stays on the original host (http or https, default port).
    private func sameHostRedirect(from url: String, to target: String, originHost: String) throws -> String {
        guard let components = URLComponents(string: target), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host?.lowercased(),
              host == originHost.lowercased(), components.port == nil || components.port == 80 || components.port == 443,
              components.user == nil, components.password == nil else {
            throw FetchError(.redirectRefused, "redirect from \(url) to \(target) refused: it leaves \(originHost)")
        }
        return target
    }

    private func parseJSON(_ body: Data, contentType: String?, url: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(body)
        } catch {
            let looksHTML = contentType?.lowercased().contains("html") == true
                || body.prefix(256).contains(UInt8(ascii: "<"))
            if looksHTML {
                throw FetchError(.notJSON, "HTML instead of JSON from \(url) (content-type \(contentType ?? "none"))")
            }
            throw FetchError(.invalidJSON, "\(JSONValue.parseFailure(body)) JSON (\(body.count) bytes) from \(url)")
        }
    }

    /// `Retry-After` as seconds or an HTTP date, in milliseconds.
    static func retryAfterMs(_ value: String?) -> Int? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds.isFinite, seconds >= 0 { return Int(min(seconds, 86_400) * 1000) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, Int(date.timeIntervalSinceNow * 1000))
    }

    // MARK: - robots.txt

    private func robots(host: String, scheme: String) async -> RobotsRules {
        await hosts.robots(host) { [self] in
            let response = await perform(url: "\(scheme)://\(host)/robots.txt", host: host, accept: "text/plain")
            guard response.curlCode == 0, response.status == 200, !response.bodyTooLarge else { return .allowAll }
            return RobotsRules(parsing: String(decoding: response.body, as: UTF8.self),
                               productToken: HTTPClientOptions.productToken)
        }
    }
}

/// Per-host state: the politeness limiter, the scheme that worked, robots rules, failure streak.
private actor HostStates {
    private let perHost: Int
    private var limiters: [String: AsyncLimiter] = [:]
    private var pacers: [String: HostPacer] = [:]
    private var workingScheme: [String: String] = [:]
    private var robotsRules: [String: Task<RobotsRules, Never>] = [:]
    private var identities: [String: Task<String?, Never>] = [:]
    private var failureStreak: [String: Int] = [:]

    init(perHost: Int) { self.perHost = perHost }

    func limiter(for host: String) -> AsyncLimiter {
        if let limiter = limiters[host] { return limiter }
        let limiter = AsyncLimiter(limit: perHost)
        limiters[host] = limiter
        return limiter
    }

    func pacer(for host: String) -> HostPacer {
        if let pacer = pacers[host] { return pacer }
        let pacer = HostPacer()
        pacers[host] = pacer
        return pacer
    }

    func schemeOrder(_ host: String, preferred: [String]) -> [String] {
        guard let working = workingScheme[host] else { return preferred }
        return [working] + preferred.filter { $0 != working }
    }

    func recordSuccess(_ host: String, scheme: String) {
        workingScheme[host] = scheme
        failureStreak[host] = 0
    }

    func recordFailure(_ host: String) { failureStreak[host, default: 0] += 1 }

    func isCircuitOpen(_ host: String, threshold: Int) -> Bool {
        threshold > 0 && failureStreak[host, default: 0] >= threshold
    }

    func robots(_ host: String, fetch: @escaping @Sendable () async -> RobotsRules) async -> RobotsRules {
        if let task = robotsRules[host] { return await task.value }
        let task = Task { await fetch() }
        robotsRules[host] = task
        return await task.value
    }

    func identity(_ host: String, fetch: @escaping @Sendable () async -> String?) async -> String? {
        if let task = identities[host] { return await task.value }
        let task = Task { await fetch() }
        identities[host] = task
        return await task.value
    }
}
