/// Time for the core, in milliseconds on a monotonic scale. Injected, so tests of
/// timeouts advance time by hand instead of sleeping.
public protocol CoreClock: Sendable {
    func nowMs() -> Int64
    /// Returns at `deadlineMs` or later; throws `CancellationError` when cancelled first.
    func suspend(untilMs deadlineMs: Int64) async throws
}

/// The real clock.
public struct SystemClock: CoreClock {
    private let origin = ContinuousClock.now

    public init() {}

    public func nowMs() -> Int64 {
        let elapsed = ContinuousClock.now - origin
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }

    public func suspend(untilMs deadlineMs: Int64) async throws {
        let remaining = deadlineMs - nowMs()
        if remaining > 0 { try await Task.sleep(for: .milliseconds(remaining)) }
    }
}
