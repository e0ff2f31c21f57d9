extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension ContinuousClock.Instant {
    /// Whole milliseconds since this instant.
    public var elapsedMilliseconds: Int {
        Int(((ContinuousClock.now - self).seconds * 1000).rounded(.down))
    }
}
