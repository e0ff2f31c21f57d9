import Foundation
import Logging

/// Progress of a long stage for the log: `label: done/total (pct) rate unit/s ETA 1m05s`, at most
/// once per `interval` seconds, and once at the end.
public struct ProgressLine: Sendable {
    public let label: String
    public let total: Int
    public let unit: String
    public let interval: Double
    private let start = ContinuousClock.now
    private var lastLine = ContinuousClock.now
    public private(set) var done = 0

    public init(label: String, total: Int, unit: String, interval: Double = 10) {
        self.label = label
        self.total = total
        self.unit = unit
        self.interval = interval
    }

    /// Counts `count` more done; logs a line when due. `detail` is appended to it (other counters).
    public mutating func advance(by count: Int, detail: @autoclosure () -> String = "", logger: Logger) {
        done += count
        let now = ContinuousClock.now
        guard now - lastLine >= .seconds(interval) || done >= total else { return }
        lastLine = now
        let elapsed = (now - start).seconds
        let rate = Double(done) / max(elapsed, 1e-3)
        let remaining = rate > 0 ? Double(max(total - done, 0)) / rate : 0
        let percent = total > 0 ? 100 * Double(done) / Double(total) : 100
        logger.info("\(label): \(done)/\(total) (\(String(format: "%.1f", percent))%) \(String(format: "%.1f", rate)) \(unit)/s ETA \(Self.duration(remaining))\(detail().isEmpty ? "" : ", " + detail())")
    }

    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 60 ? "\(whole / 60)m\(String(format: "%02d", whole % 60))s" : "\(whole)s"
    }
}
