import Foundation

/// What one client may cost a server: the size of what it sends before an answer, how long it may
/// take, and how many connections all clients may hold. Past a size the client gets a 4xx problem
/// and the connection closes; past a time the connection closes; past the connection cap a new
/// connection is answered 503.
public struct HTTPLimits: Sendable {
    /// The request line (method, target, version), in bytes: longer gets 414.
    public var maxRequestLineBytes = 8 * 1024
    /// One header field, and all of them together, in bytes; and how many fields: past them 431.
    public var maxHeaderFieldBytes = 8 * 1024
    public var maxHeaderBytes = 16 * 1024
    public var maxHeaderCount = 100
    /// A connection with no request in progress (idle between kept-alive requests, or a request whose
    /// head is still arriving: a half-sent or dribbled one) is closed after this long.
    public var idleTimeout: Duration = .seconds(15)
    /// Connections open at once; one more is answered 503 and closed. Lowered to what the process's
    /// file descriptors allow (`effectiveMaxConnections`).
    public var maxConnections = 4_096
    /// On shutdown (SIGTERM), requests in flight get this long to finish.
    public var shutdownGrace: Duration = .seconds(10)

    public init() {}

    /// File descriptors kept back for everything but client connections (DB files, the index, logs).
    static let reservedDescriptors = 64

    /// `maxConnections`, at most the process's open-file limit (raised to its hard limit first) less
    /// what the server needs besides: so running out of descriptors refuses a connection with 503
    /// instead of failing `accept`.
    public var effectiveMaxConnections: Int {
        max(1, min(maxConnections, FileDescriptorLimit.raised() - Self.reservedDescriptors))
    }
}

/// The process's open-file limit (`RLIMIT_NOFILE`).
public enum FileDescriptorLimit {
    /// Raises the soft limit to the hard one (a server's first step; systemd's default soft limit is
    /// 1,024) and returns the soft limit in force.
    @discardableResult
    public static func raised() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(min(limit.rlim_cur, rlim_t(Int32.max)))
    }
}

/// An RFC 9457 problem body, PeerTube's error shape: `{"detail", "status", "title"}` (keys sorted).
public enum HTTPProblem {
    public static let titles = [400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 414: "URI Too Long",
                                431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable"]

    public static func body(status: Int, detail: String) -> Data {
        struct Problem: Encodable {
            var status: Int
            var title: String
            var detail: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Problem(status: status, title: titles[status] ?? "Error", detail: detail))) ?? Data()
    }
}
