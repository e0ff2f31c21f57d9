/// The `Disallow`/`Allow` rules of a robots.txt that apply to our user agent (RFC 9309): the group
/// naming our product token if there is one, else the `*` group. Longest match wins; Allow wins ties.
struct RobotsRules: Sendable, Equatable {
    var allow: [String] = []
    var disallow: [String] = []

    static let allowAll = RobotsRules()

    init() {}

    init(parsing text: String, productToken: String) {
        var groups: [(agents: [String], allow: [String], disallow: [String])] = []
        var inAgentLine = false
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let colon = line.firstIndex(of: ":") else { continue }
            let field = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch field {
            case "user-agent":
                if !inAgentLine { groups.append(([], [], [])) }
                groups[groups.count - 1].agents.append(value.lowercased())
                inAgentLine = true
            case "allow", "disallow":
                inAgentLine = false
                guard !groups.isEmpty, !value.isEmpty else { continue }
                if field == "allow" { groups[groups.count - 1].allow.append(value) }
                else { groups[groups.count - 1].disallow.append(value) }
            default:
                continue
            }
        }
        let token = productToken.lowercased()
        let chosen = groups.filter { $0.agents.contains { $0 != "*" && token.hasPrefix($0) } }
        let applicable = chosen.isEmpty ? groups.filter { $0.agents.contains("*") } : chosen
        allow = applicable.flatMap(\.allow)
        disallow = applicable.flatMap(\.disallow)
    }

    /// Whether `path` (with its query) may be fetched.
    func allows(_ path: String) -> Bool {
        let deny = disallow.filter { Self.matches($0, path) }.map(\.count).max() ?? -1
        let permit = allow.filter { Self.matches($0, path) }.map(\.count).max() ?? -1
        return deny < 0 || permit >= deny
    }

    /// Prefix match with `*` wildcards and a trailing `$` anchor.
    private static func matches(_ pattern: String, _ path: String) -> Bool {
        var pattern = Substring(pattern)
        let anchored = pattern.hasSuffix("$")
        if anchored { pattern = pattern.dropLast() }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
        var rest = Substring(path)
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if let range = rest.range(of: part) {
                rest = rest[range.upperBound...]
            } else {
                return false
            }
        }
        return !anchored || rest.isEmpty || parts.last == ""
    }
}
