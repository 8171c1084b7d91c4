import NIOConcurrencyHelpers

/// The order a `LauncherStore` writes in: changes queue up, one writer takes all that is
/// queued as one batch at a time, and `flush()` returns once what was queued before it is
/// written, or throws once a batch failed; after a failure nothing more is written.
public final class StoreWriteQueue: Sendable {
    /// Whether the one writer is at work; `enqueue` says when it must start.
    private enum Writer {
        case idle, writing
    }

    private struct Queue {
        var pending: [StoredChange] = []
        var queued = 0
        var written = 0
        var writer = Writer.idle
        var failure: (any Error)?
        var waiting: [(upTo: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    private let queue = NIOLockedValueBox(Queue())

    public init() {}

    /// Queues `changes`; true when the writer is idle and the caller must start it.
    public func enqueue(_ changes: [StoredChange]) -> Bool {
        queue.withLockedValue { queue in
            queue.pending += changes
            queue.queued += changes.count
            guard queue.writer == .idle else { return false }
            queue.writer = .writing
            return true
        }
    }

    /// Everything queued, for the writer; nil when nothing is, or after a failure, and the
    /// writer is then idle.
    public func nextBatch() -> [StoredChange]? {
        queue.withLockedValue { queue in
            guard !queue.pending.isEmpty, queue.failure == nil else {
                queue.writer = .idle
                return nil
            }
            defer { queue.pending = [] }
            return queue.pending
        }
    }

    /// The writer wrote a batch of `count` changes, or failed to: the flushes it answers return.
    public func written(_ count: Int, failure: (any Error)?) {
        let done = queue.withLockedValue { queue -> [(CheckedContinuation<Void, any Error>, (any Error)?)] in
            queue.written += count
            if let failure, queue.failure == nil { queue.failure = failure }
            let ready = queue.waiting.filter { $0.upTo <= queue.written || queue.failure != nil }
            queue.waiting.removeAll { $0.upTo <= queue.written || queue.failure != nil }
            return ready.map { ($0.continuation, queue.failure) }
        }
        for (continuation, failure) in done {
            if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
        }
    }

    /// Nothing more is written, for `failure`; every flush waiting or to come throws it.
    public func fail(_ failure: any Error) {
        written(0, failure: failure)
    }

    /// Why nothing more is written, once nothing is.
    public var failure: (any Error)? {
        queue.withLockedValue { $0.failure }
    }

    public func flush() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let now = queue.withLockedValue { queue -> Result<Void, any Error>? in
                if let failure = queue.failure { return .failure(failure) }
                guard queue.written < queue.queued else { return .success(()) }
                queue.waiting.append((queue.queued, continuation))
                return nil
            }
            if let now { continuation.resume(with: now) }
        }
    }
}
