extension ContinuousClock.Instant {
    /// Whole milliseconds since this instant.
    public var elapsedMilliseconds: Int {
        let elapsed = ContinuousClock.now - self
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
}
