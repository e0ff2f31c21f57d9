import Foundation
import HTTPServing
import Logging
import PeerTubeUpdater
import Synchronization

/// The read API's answers, independent of the HTTP server: a request's method, path and query in,
/// status and JSON body out, every value from one `ServedGeneration`.
///
/// Request values reach SQLite only as bound arguments, after checks: a host must be shaped as prod
/// stores host names (at most 253 letters, digits, `-` or `.`), an id at most 100 letters, digits,
/// `-` or `_`, a count 1…`maxCount`, a search text 1…`maxTextLength` characters. Nothing from a request names a file. Every answer
/// does bounded work: one indexed lookup per video, one index search per text.
public struct ReadAPI: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var body: Data
        /// The generation the answer was computed from (nil for errors before one was chosen).
        public var generation: Int?
        /// Headers beyond the content type (`Allow` of a 405).
        public var headers: [(name: String, value: String)] = []
    }

    /// What `serve` answers (HEAD: GET's headers, no body); anything else gets 405 with `Allow`.
    public static let allowedMethods = "GET, HEAD"

    /// Whether answering `path` runs the model: text search takes tens of milliseconds of every core,
    /// one text at a time. Every other answer is a few indexed reads.
    public static func runsModel(path: String) -> Bool {
        (path.removingPercentEncoding ?? path).hasPrefix("/api/v1/search/")
    }

    let options: ServeOptions
    let watcher: GenerationWatcher
    let embedder: QueryEmbedder?
    let logger: Logger
    let startedAt = Date()

    public init(options: ServeOptions, watcher: GenerationWatcher, embedder: QueryEmbedder?, logger: Logger) {
        self.options = options
        self.watcher = watcher
        self.embedder = embedder
        self.logger = logger
    }

    /// `path` percent-encoded, as the request line has it; `query` decoded.
    public func respond(method: String, path: String, query: [String: String]) -> Response {
        guard method == "GET" || method == "HEAD" else {
            var refusal = problem(405, "only GET and HEAD are served")
            refusal.headers = [("Allow", Self.allowedMethods)]
            return refusal
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0.removingPercentEncoding }
        guard !parts.contains(where: { $0 == nil }) else { return problem(400, "the path is not valid percent-encoding") }
        let segments = parts.map { $0! }
        let generation = watcher.current
        do {
            switch segments {
            case ["healthz"]:
                return try answer(health(generation), generation)
            case let s where s.count == 5 && s[0...2] == ["api", "v1", "videos"]:
                let (host, id) = try key(s[3], s[4])
                guard let video = try generation.video(host: host, id: id) else { return problem(404, "no video \(id) on \(host)", generation) }
                return try answer(video, generation)
            case let s where s.count == 6 && s[0...2] == ["api", "v1", "videos"] && s[5] == "similar":
                let (host, id) = try key(s[3], s[4])
                let count = try self.count(query)
                guard try generation.video(host: host, id: id) != nil else { return problem(404, "no video \(id) on \(host)", generation) }
                guard let list = try generation.similar(host: host, id: id, count: count) else {
                    return problem(503, "no similarity cache is published yet", generation)
                }
                return try answer(VideoList(total: list.count, data: list), generation)
            case ["api", "v1", "search", "similar"]:
                let text = try self.text(query)
                let count = try self.count(query)
                guard let embedder else { return problem(503, "text search is off: serve was started without a model", generation) }
                guard let list = try generation.search(try embedder.embed(text), count: count, nprobe: options.nprobe) else {
                    return problem(503, "no ANN index of the model's dimension is published yet", generation)
                }
                return try answer(VideoList(total: list.count, data: list), generation)
            default:
                return problem(404, "no such endpoint; see GET /healthz, /api/v1/videos/{host}/{id}[/similar], /api/v1/search/similar?text=")
            }
        } catch let error as BadRequest {
            return problem(400, error.message, generation)
        } catch {
            // The detail stays in the log: errors name files, which a client has no business seeing.
            logger.error("serve: \(method) \(path.escapedForLog) failed on generation \(generation.sequence): \(String(describing: error).escapedForLog)")
            return problem(500, "the answer failed; serve's log says why", generation)
        }
    }

    // MARK: - Request values

    struct BadRequest: Error { var message: String }

    private func key(_ rawHost: String, _ id: String) throws -> (host: String, id: String) {
        // A lookup key, bound as a value: checked for shape (prod stores hosts lower-case, ASCII,
        // IDNA names as xn--), not for reachability as the crawler's `HostName` does.
        let host = rawHost.lowercased()
        guard (1...253).contains(host.utf8.count), host.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else {
            throw BadRequest(message: "'\(rawHost.escapedForLog)' is not an instance host name")
        }
        guard (1...100).contains(id.utf8.count), id.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }) else {
            throw BadRequest(message: "a video id is 1 to 100 letters, digits, '-' or '_'")
        }
        return (host, id)
    }

    private func count(_ query: [String: String]) throws -> Int {
        guard let raw = query["count"] else { return options.defaultCount }
        guard let count = Int(raw), (1...options.maxCount).contains(count) else {
            throw BadRequest(message: "count must be a whole number from 1 to \(options.maxCount)")
        }
        return count
    }

    private func text(_ query: [String: String]) throws -> String {
        let text = (query["text"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.count <= options.maxTextLength else {
            throw BadRequest(message: "text must be 1 to \(options.maxTextLength) characters")
        }
        return text
    }

    // MARK: - Bodies

    /// PeerTube's list shape.
    struct VideoList: Encodable {
        var total: Int
        var data: [SimilarVideo]
    }

    struct Health: Encodable {
        var status: String
        var generation: Int
        var consistent: Bool
        var openedAt: String
        var uptimeSeconds: Int
        var artifacts: ServedGeneration.Summary
        var textSearch: Bool
    }

    private func health(_ generation: ServedGeneration) -> Health {
        Health(status: generation.consistent ? "ok" : "degraded", generation: generation.sequence, consistent: generation.consistent,
               openedAt: generation.openedAt.formatted(Date.ISO8601FormatStyle()), uptimeSeconds: Int(Date().timeIntervalSince(startedAt)),
               artifacts: generation.summary, textSearch: embedder != nil)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    private func answer(_ value: some Encodable, _ generation: ServedGeneration) throws -> Response {
        Response(status: 200, body: try Self.encoder.encode(value), generation: generation.sequence)
    }

    /// An error in PeerTube's own shape (RFC 7807 problem details).
    private func problem(_ status: Int, _ detail: String, _ generation: ServedGeneration? = nil) -> Response {
        Response(status: status, body: HTTPProblem.body(status: status, detail: detail), generation: generation?.sequence)
    }
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}

/// The search endpoint's text → embedding, one text at a time (each uses every core already).
public final class QueryEmbedder: Sendable {
    private let embedder: Mutex<SentenceEmbedder>

    /// - Throws: `ModelError` for a missing or invalid model.
    public init(modelDirectory: String, threads: Int? = nil) throws {
        embedder = Mutex(try SentenceEmbedder(modelDirectory: modelDirectory, device: .cpu, threads: threads))
    }

    func embed(_ text: String) throws -> [Float] {
        try embedder.withLock { try $0.embed([text])[0] }
    }
}
