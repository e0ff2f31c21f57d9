import Foundation

/// Instance host names as the DB stores them: lower-case, ASCII (IDNA names in their `xn--` form),
/// no scheme, credentials, port, path or trailing dot; a public DNS name, never an address or a
/// local name. Anything else is rejected with a reason an operator can act on.
public enum HostName {
    public struct Rejection: Error, Sendable, Equatable {
        public var input: String
        public var reason: String
    }

    public static func normalize(_ raw: String) -> Result<String, Rejection> {
        func reject(_ reason: String) -> Result<String, Rejection> { .failure(Rejection(input: raw, reason: reason)) }
        var text = raw.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard !text.isEmpty else { return reject("empty") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) else {
            return reject("contains spaces or control characters")
        }
        if text.contains("://") || text.contains("/") || text.contains("@") {
            let url = text.contains("://") ? text : "https://" + text
            guard let components = URLComponents(string: url) else { return reject("not a URL or host name") }
            guard let scheme = components.scheme, scheme == "http" || scheme == "https" else {
                return reject("scheme '\(components.scheme ?? "")' is not http(s)")
            }
            guard components.user == nil, components.password == nil else { return reject("URL carries credentials") }
            if let port = components.port, port != 80, port != 443 { return reject("non-default port \(port)") }
            guard let host = components.host, !host.isEmpty else { return reject("URL without a host") }
            text = host
        } else if let colon = text.lastIndex(of: ":"), !text.hasPrefix("[") {
            let port = text[text.index(after: colon)...]
            guard port == "80" || port == "443" else {
                return text.filter({ $0 == ":" }).count > 1 ? reject("IP address") : reject("non-default port \(port)")
            }
            text = String(text[..<colon])
        }
        if text.hasPrefix("[") || text.contains(":") { return reject("IP address") }
        while text.hasSuffix(".") { text.removeLast() }
        guard !text.isEmpty else { return reject("empty") }
        guard text.allSatisfy(\.isASCII) else { return reject("non-ASCII host name; give its punycode (xn--) form") }
        guard text.count <= 253 else { return reject("longer than 253 characters") }
        if isIPLiteral(text) { return reject("IP address") }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else {
            return text == "localhost" ? reject("local name") : reject("not a fully qualified host name")
        }
        for label in labels {
            guard !label.isEmpty else { return reject("empty label") }
            guard label.count <= 63 else { return reject("label longer than 63 characters") }
            guard label.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                return reject("invalid character in '\(label)'")
            }
            guard !label.hasPrefix("-"), !label.hasSuffix("-") else { return reject("label starts or ends with '-'") }
        }
        if let last = labels.last, last.allSatisfy(\.isNumber) { return reject("IP address") }
        let localSuffixes = ["localhost", "local", "internal", "localdomain", "home.arpa", "invalid", "test", "example"]
        if localSuffixes.contains(where: { text == $0 || text.hasSuffix("." + $0) }) { return reject("local name") }
        return .success(text)
    }

    /// True for dotted-quad IPv4 and bracketed or bare IPv6 literals.
    public static func isIPLiteral(_ host: String) -> Bool {
        if host.contains(":") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }
    }
}
