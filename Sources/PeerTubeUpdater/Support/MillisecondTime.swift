import Foundation

/// Unix milliseconds as ISO-8601 UTC with exact milliseconds (`2020-12-17T22:53:28.152Z`), as PeerTube
/// writes its dates. Integer arithmetic: a `Double` of the milliseconds divided by 1000 rounds about
/// half of all values one millisecond down.
public enum MillisecondTime {
    public static func iso8601(_ milliseconds: Int64) -> String {
        let remainder = ((milliseconds % 1000) + 1000) % 1000
        let seconds = (milliseconds - remainder) / 1000
        let whole = Date(timeIntervalSince1970: Double(seconds)).formatted(Date.ISO8601FormatStyle())  // 2020-12-17T22:53:28Z
        return "\(whole.dropLast()).\(String(format: "%03d", Int(remainder)))Z"
    }
}
