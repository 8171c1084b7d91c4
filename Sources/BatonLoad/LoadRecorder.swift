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
        /// The version that answered a GET, as examples/hello names itself.
        public var servedBy: String?

        public var finished: ContinuousClock.Instant { started + latency }
    }

    private struct Samples {
        var all: [Sample] = []
        /// Those waiting for the count to reach theirs.
        var waiting: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let samples = NIOLockedValueBox(Samples())
    private let windows = NIOLockedValueBox<[Range<ContinuousClock.Instant>]>([])

    public init() {}

    public func record(_ sample: Sample) {
        let reached = samples.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.all.append(sample)
            let count = state.all.count
            let reached = state.waiting.filter { $0.count <= count }.map(\.continuation)
            state.waiting.removeAll { $0.count <= count }
            return reached
        }
        for continuation in reached { continuation.resume() }
    }

    /// Returns once `count` requests in all have been recorded.
    public func waitFor(count: Int) async {
        await withCheckedContinuation { continuation in
            let now = samples.withLockedValue { state -> Bool in
                guard state.all.count < count else { return true }
                state.waiting.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    public func rollover(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) {
        windows.withLockedValue { $0.append(start..<end) }
    }

    public var all: [Sample] { samples.withLockedValue { $0.all } }

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
