import Foundation

extension String {
    /// This text as one URL path segment: everything but RFC 3986's unreserved characters is
    /// percent-encoded, and a segment of dots only (`.`, `..`) is encoded whole, since HTTP clients
    /// and servers resolve those as "this" and "the parent" folder. A channel named `../../admin`
    /// or `a/b` stays one segment of its own path.
    var urlPathSegment: String {
        if !isEmpty && allSatisfy({ $0 == "." }) { return String(repeating: "%2E", count: count) }
        return addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? self
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
