extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension ContinuousClock.Instant {
    /// Whole milliseconds since this instant.
    public var elapsedMilliseconds: Int {
        Int((elapsedSeconds * 1000).rounded(.down))
    }

    /// Seconds since this instant.
    public var elapsedSeconds: Double { (ContinuousClock.now - self).seconds }
}

/// The wall time of a stage's phases, for its closing log line: `lap(name)` ends the phase named
/// `name`, which ran since the previous lap (or since the value was made).
public struct PhaseTimes: Sendable, CustomStringConvertible {
    private var last = ContinuousClock.now
    private var laps: [(name: String, ms: Int)] = []

    public init() {}

    public mutating func lap(_ name: String) {
        let now = ContinuousClock.now
        laps.append((name, Int(((now - last).seconds * 1000).rounded())))
        last = now
    }

    /// "loading 120ms, planning 40ms, …"
    public var description: String { laps.map { "\($0.name) \($0.ms)ms" }.joined(separator: ", ") }
}
