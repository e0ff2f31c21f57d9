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
}
