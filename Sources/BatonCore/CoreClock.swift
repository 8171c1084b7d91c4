/// A moment on the core's monotonic clock: how long after the clock started.
public struct CoreInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var sinceStart: Duration

    public init(sinceStart: Duration) {
        self.sinceStart = sinceStart
    }

    public static func < (left: CoreInstant, right: CoreInstant) -> Bool { left.sinceStart < right.sinceStart }
    public static func + (instant: CoreInstant, duration: Duration) -> CoreInstant {
        CoreInstant(sinceStart: instant.sinceStart + duration)
    }
    public static func - (later: CoreInstant, earlier: CoreInstant) -> Duration {
        later.sinceStart - earlier.sinceStart
    }

    public var description: String { "t=\(sinceStart.milliseconds)ms" }
}

/// Time for the core. Injected, so tests of timeouts and the simulation advance time by
/// hand instead of sleeping.
public protocol CoreClock: Sendable {
    var now: CoreInstant { get }
    /// Returns at `deadline` or later; throws `CancellationError` when cancelled first.
    func sleep(until deadline: CoreInstant) async throws
}

/// The real clock.
public struct SystemClock: CoreClock {
    private let origin = ContinuousClock.now

    public init() {}

    public var now: CoreInstant { CoreInstant(sinceStart: ContinuousClock.now - origin) }

    public func sleep(until deadline: CoreInstant) async throws {
        try await Task.sleep(until: origin + deadline.sinceStart, clock: .continuous)
    }
}
