import NIOConcurrencyHelpers

/// Every request's outcome and latency, and the windows in which rollovers ran, so a
/// summary can compare latency inside them with latency outside.
public final class LoadRecorder: Sendable {
    public struct Sample: Sendable {
        public var started: ContinuousClock.Instant
        public var latency: Duration
        public var kind: String
        /// nil when the request succeeded; otherwise what went wrong.
        public var failure: String?
    }

    private let samples = NIOLockedValueBox<[Sample]>([])
    private let windows = NIOLockedValueBox<[Range<ContinuousClock.Instant>]>([])

    public init() {}

    public func record(_ sample: Sample) {
        samples.withLockedValue { $0.append(sample) }
    }

    public func rollover(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) {
        windows.withLockedValue { $0.append(start..<end) }
    }

    public var all: [Sample] { samples.withLockedValue { $0 } }

    /// Latencies of successful requests started inside (or outside) a rollover window.
    public func latencies(insideRollovers inside: Bool) -> [Duration] {
        let windows = windows.withLockedValue { $0 }
        return all.filter { sample in
            sample.failure == nil && windows.contains { $0.contains(sample.started) } == inside
        }.map(\.latency).sorted()
    }

    public static func percentile(_ sorted: [Duration], _ fraction: Double) -> Duration? {
        guard !sorted.isEmpty else { return nil }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }
}
