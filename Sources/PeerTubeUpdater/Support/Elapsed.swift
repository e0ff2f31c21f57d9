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
