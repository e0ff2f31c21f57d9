import Foundation

/// The instance whitelist: JoinPeerTube's `{"total":N,"data":[{"host":…}]}`, or a bare list of host
/// strings or `{host}` objects. Hosts are normalised and deduplicated in whitelist order; every
/// rejected entry keeps its reason for the log.
public struct Whitelist: Sendable, Equatable {
    public var hosts: [String] = []
    public var rejected: [HostName.Rejection] = []
    public var duplicates = 0
    public var entries = 0

    public init(hosts: [String]) { self.hosts = hosts; entries = hosts.count }

    /// The bytes of a local whitelist file, refusing what is not a regular file by what it is (a
    /// directory, a FIFO, a device such as `/dev/zero`, a socket) and a file over `maxBytes`.
    ///
    /// - Throws: `FetchError` (`invalid_url` for a path that is not a readable regular file,
    ///   `too_large` past `maxBytes`).
    public static func readFile(_ path: String, maxBytes: Int) throws -> Data {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = errno == ENOENT ? "not found" : String(cString: strerror(errno))
            throw FetchError(.invalidURL, "whitelist file \(path): \(reason)")
        }
        let kind: String? = switch info.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
        if let kind { throw FetchError(.invalidURL, "whitelist file \(path) is \(kind), not a regular file") }
        guard Int(info.st_size) <= maxBytes else {
            throw FetchError(.tooLarge, "whitelist file \(path) has \(info.st_size) bytes, over the limit of \(maxBytes)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FetchError(.invalidURL, "whitelist file \(path) is not readable")
        }
        return data
    }

    /// - Throws: `FetchError` (`invalid_json`) when the JSON is neither a list nor a `{"data": [...]}`
    ///   object.
    public init(parsing json: JSONValue) throws {
        let items: [JSONValue]
        if let list = json.array {
            items = list
        } else if let list = json["data"]?.array ?? json["instances"]?.array {
            items = list
        } else {
            throw FetchError(.invalidJSON, "unexpected whitelist JSON shape: expected {\"data\":[…]}, {\"instances\":[…]} or a list of hosts")
        }
        var seen = Set<String>()
        for item in items {
            entries += 1
            let raw: String
            switch item {
            case .string(let text): raw = text
            case .object: 
                guard case .string(let text)? = item["host"] else {
                    rejected.append(.init(input: Self.describe(item), reason: "object without a string 'host'"))
                    continue
                }
                raw = text
            default:
                rejected.append(.init(input: Self.describe(item), reason: "entry is not a host string"))
                continue
            }
            switch HostName.normalize(raw) {
            case .success(let host):
                if seen.insert(host).inserted { hosts.append(host) } else { duplicates += 1 }
            case .failure(let rejection):
                rejected.append(rejection)
            }
        }
    }

    /// Keeps the first `limit` hosts (0 = all), in whitelist order.
    public func capped(_ limit: Int) -> Whitelist {
        guard limit > 0, hosts.count > limit else { return self }
        var copy = self
        copy.hosts = Array(hosts.prefix(limit))
        return copy
    }

    private static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): String(flag)
        case .int(let number): String(number)
        case .double(let number): String(number)
        case .string(let text): text
        case .array: "[…]"
        case .object: "{…}"
        }
    }
}
