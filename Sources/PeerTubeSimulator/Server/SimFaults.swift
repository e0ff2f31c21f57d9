import Foundation

/// Misbehaviour to switch on per host, read from a JSON file (`sim serve --faults FILE`):
/// `{"hosts": {"tilvids.com": {"latencyMs": 20, "rateLimited": -1, "retryAfterSeconds": 2}}, "all": {…}}`.
/// Counts ("the first N API requests") are per host; -1 means every request.
public struct SimFaults: Sendable, Codable, Equatable {
    public struct HostFaults: Sendable, Codable, Equatable {
        /// Added before every answer.
        public var latencyMs: Int?
        /// The first N API requests get 429 with `Retry-After` (-1: all of them).
        public var rateLimited: Int?
        public var retryAfterSeconds: Int?
        /// The first N API requests get an nginx-style 502 HTML page (-1: all of them).
        public var serverErrors: Int?
        /// Accepts the request and never answers.
        public var hang: Bool?
        /// JSON bodies cut in half.
        public var malformedJSON: Bool?
        /// 200 with an HTML page instead of JSON.
        public var htmlInsteadOfJSON: Bool?
        /// A JSON body of `oversizedBytes` (default 12 MB).
        public var oversizedBody: Bool?
        public var oversizedBytes: Int?
        /// 302 to the same path on this base URL (e.g. `http://other.example`).
        public var redirectTo: String?
        /// robots.txt disallows `/api/`.
        public var robotsDisallowAPI: Bool?
        /// Every Nth video's details answer 404 although the video is listed.
        public var detailsNotFoundEvery: Int?
        /// Every Nth video's details answer an nginx-style 502, every time it is asked.
        public var detailsServerErrorEvery: Int?
        /// Sends the status line and headers of a JSON answer, then never its body.
        public var hangAfterHeaders: Bool?
        /// Sends the body this many bytes a second.
        public var dribbleBytesPerSecond: Int?
        /// Rewrites every item of a JSON answer (list items, a video's or channel's details).
        public var payloadMutation: PayloadMutation?
        /// A `junk` field nested this deep in every item; past what a JSON parser accepts (512), the
        /// whole body becomes one array nested this deep.
        public var junkNestingDepth: Int?
        /// Video details carry a description of this many bytes.
        public var hugeDescriptionBytes: Int?
        /// PeerTube's own API rate limit (`rates_limit.api`), as its default configuration answers.
        public var peertubeRateLimit: PeerTubeRateLimit?
        /// Every API request (`/api/v1/config` too) answers 404 as a server that is not PeerTube: a
        /// domain that now points elsewhere, a proxy misconfigured for `/api`.
        public var foreign404: Foreign404?
        /// Every channel's video list answers PeerTube's own 404 while the channel listing still names
        /// the channel (a glitch, not a deletion).
        public var channelVideosNotFound: Bool?

        public init(latencyMs: Int? = nil, rateLimited: Int? = nil, retryAfterSeconds: Int? = nil, serverErrors: Int? = nil,
                    hang: Bool? = nil, malformedJSON: Bool? = nil, htmlInsteadOfJSON: Bool? = nil, oversizedBody: Bool? = nil,
                    oversizedBytes: Int? = nil, redirectTo: String? = nil, robotsDisallowAPI: Bool? = nil,
                    detailsNotFoundEvery: Int? = nil, hangAfterHeaders: Bool? = nil, dribbleBytesPerSecond: Int? = nil,
                    payloadMutation: PayloadMutation? = nil, junkNestingDepth: Int? = nil, hugeDescriptionBytes: Int? = nil,
                    peertubeRateLimit: PeerTubeRateLimit? = nil, detailsServerErrorEvery: Int? = nil,
                    foreign404: Foreign404? = nil, channelVideosNotFound: Bool? = nil) {
            self.latencyMs = latencyMs
            self.rateLimited = rateLimited
            self.retryAfterSeconds = retryAfterSeconds
            self.serverErrors = serverErrors
            self.hang = hang
            self.malformedJSON = malformedJSON
            self.htmlInsteadOfJSON = htmlInsteadOfJSON
            self.oversizedBody = oversizedBody
            self.oversizedBytes = oversizedBytes
            self.redirectTo = redirectTo
            self.robotsDisallowAPI = robotsDisallowAPI
            self.detailsNotFoundEvery = detailsNotFoundEvery
            self.hangAfterHeaders = hangAfterHeaders
            self.dribbleBytesPerSecond = dribbleBytesPerSecond
            self.payloadMutation = payloadMutation
            self.junkNestingDepth = junkNestingDepth
            self.hugeDescriptionBytes = hugeDescriptionBytes
            self.peertubeRateLimit = peertubeRateLimit
            self.detailsServerErrorEvery = detailsServerErrorEvery
            self.foreign404 = foreign404
            self.channelVideosNotFound = channelVideosNotFound
        }
    }

    /// How a server that is not PeerTube answers 404.
    public enum Foreign404: String, Sendable, Codable, Equatable {
        /// `text/plain` (`404 page not found`, as Go's default mux answers).
        case text
        /// nginx's HTML error page.
        case html
        /// JSON in another server's error envelope (`{"timestamp", "status": 404, "error": "Not Found", "path"}`).
        case json

        func response(path: String) -> SimResponse {
            switch self {
            case .text: .text("404 page not found\n", status: 404)
            case .html: .text("<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>",
                              status: 404, type: "text/html")
            case .json: .json(["timestamp": "2026-12-04T10:00:00.000+00:00", "status": 404, "error": "Not Found", "path": path], status: 404)
            }
        }
    }

    /// A fixed window per client address (here: per host, every client being 127.0.0.1) that starts
    /// at its first request and counts every API request, refused ones included, as PeerTube's
    /// `express-rate-limit` does. Past `requests` in a window: 429, `Retry-After` (seconds to the
    /// reset) and the plain-text message; every API answer carries `X-RateLimit-Limit/Remaining/Reset`
    /// (reset as a Unix time) and, with `standardHeaders`, `RateLimit-Limit/Remaining/Reset` (seconds)
    /// and `RateLimit-Policy`. Defaults: 50 requests per 10 s, standard headers on.
    public struct PeerTubeRateLimit: Sendable, Codable, Equatable {
        public var requests: Int?
        public var windowMs: Int?
        public var standardHeaders: Bool?

        public init(requests: Int? = nil, windowMs: Int? = nil, standardHeaders: Bool? = nil) {
            self.requests = requests
            self.windowMs = windowMs
            self.standardHeaders = standardHeaders
        }

        public var limit: Int { requests ?? 50 }
        public var window: Int { windowMs ?? 10_000 }
    }

    /// Faults of one host.
    public var hosts: [String: HostFaults] = [:]
    /// Faults of every host (a host's own entry wins field by field).
    public var all: HostFaults?

    public init(hosts: [String: HostFaults] = [:], all: HostFaults? = nil) {
        self.hosts = hosts
        self.all = all
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        hosts = try container.decodeIfPresent([String: HostFaults].self, forKey: .hosts) ?? [:]
        all = try container.decodeIfPresent(HostFaults.self, forKey: .all)
    }

    public static func load(path: String) throws -> SimFaults {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SimError("faults file not found: \(path)")
        }
        do {
            return try JSONDecoder().decode(SimFaults.self, from: data)
        } catch {
            throw SimError("faults file \(path) is not valid: \(error)")
        }
    }

    /// Each host's faults with `all` filled in field by field, resolved once (the simulator asks per
    /// request), and the faults of hosts without an entry.
    func resolved() -> (byHost: [String: HostFaults], others: HostFaults) {
        let others = all ?? HostFaults()
        guard let all, let base = Self.fields(all) else { return (hosts, others) }
        let byHost = hosts.mapValues { own -> HostFaults in
            guard let fields = Self.fields(own),
                  let merged = try? JSONSerialization.data(withJSONObject: base.merging(fields) { _, mine in mine }) else { return own }
            return (try? JSONDecoder().decode(HostFaults.self, from: merged)) ?? own
        }
        return (byHost, others)
    }

    /// The fields a value sets (absent ones are left out by the encoder).
    private static func fields(_ faults: HostFaults) -> [String: Any]? {
        (try? JSONEncoder().encode(faults)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
}

public struct SimError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
