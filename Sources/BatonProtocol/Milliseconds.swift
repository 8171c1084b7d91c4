extension Duration {
    /// Whole milliseconds, as the wire and the settings count time.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
