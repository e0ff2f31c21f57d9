import Foundation

/// Why a request gave no usable data, classified the way operators search logs: the kind is stable
/// (`timeout`, `http_404`, `invalid_json`, …), the message says what happened and where.
public struct FetchError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case timeout
        case network
        case tls
        case http(Int)
        case invalidJSON
        /// Parsed, but a field has a type or size no PeerTube sends (`PayloadCheck`).
        case invalidItem
        case notJSON
        case tooLarge
        case redirectRefused
        case robotsDisallowed
        case hostUnavailable
        case invalidURL
    }

    public var kind: Kind
    public var message: String
    /// An HTTP error whose body has PeerTube's own error shape: an RFC 7807 problem
    /// (`application/problem+json`, since v3.3) or the `{"error": "…"}` JSON older versions send. A
    /// plain-text or HTML 404 (a proxy, a domain that now points elsewhere) does not.
    public var peerTubeShaped = false

    /// `message` is escaped (`escapedForLog`): it quotes URLs, headers and payloads from outside, and
    /// goes to logs, error lines and the instance rows.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message.escapedForLog
    }

    /// Short stable label stored with the error (`last_error` starts with it).
    public var label: String {
        switch kind {
        case .timeout: "timeout"
        case .network: "network"
        case .tls: "tls"
        case .http(let status): "http_\(status)"
        case .invalidJSON: "invalid_json"
        case .invalidItem: "invalid_item"
        case .notJSON: "not_json"
        case .tooLarge: "too_large"
        case .redirectRefused: "redirect_refused"
        case .robotsDisallowed: "robots_disallowed"
        case .hostUnavailable: "host_unavailable"
        case .invalidURL: "invalid_url"
        }
    }

    /// Worth another attempt after a pause: the server or the path may recover.
    var isRetryable: Bool {
        switch kind {
        case .timeout, .network: true
        case .http(let status): status == 429 || status >= 500
        default: false
        }
    }

    /// Failures that say the host itself is unreachable or broken (they count toward its circuit).
    var isHostFailure: Bool {
        switch kind {
        case .timeout, .network, .tls: true
        case .http(let status): status == 429 || status >= 500
        default: false
        }
    }

    public var description: String { "\(label): \(message)" }

    /// True when `body` (of an answer with `status`) has PeerTube's own error shape: a JSON object
    /// that is an RFC 7807 problem (`application/problem+json` with a numeric `status` equal to the
    /// answer's, or a `title`/`detail`), or, as JSON, the older `{"error": "…"}`.
    static func hasPeerTubeErrorShape(_ body: Data, contentType: String?, status: Int) -> Bool {
        let type = contentType?.lowercased().split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard type == "application/problem+json" || type == "application/json",
              let object = try? JSONValue.parse(body), case .object(let fields) = object else { return false }
        if type == "application/problem+json" {
            return fields["status"]?.int.map { $0 == Int64(status) } ?? (fields["title"]?.string != nil || fields["detail"]?.string != nil)
        }
        return fields["error"]?.string != nil || (fields["status"]?.int == Int64(status) && fields["title"]?.string != nil)
    }
}
