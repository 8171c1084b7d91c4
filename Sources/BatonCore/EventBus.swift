import NIOConcurrencyHelpers

/// Fans events out to subscribers, each with its own bounded buffer. A subscriber that
/// falls more than `bufferLimit` events behind loses the oldest ones and learns of it
/// from its stream ending, so the core never waits on a slow reader.
public final class EventBus<Event: Sendable>: Sendable {
    private struct Subscriber {
        var filter: @Sendable (Event) -> Bool
        var continuation: AsyncStream<Event>.Continuation
    }

    private let subscribers = NIOLockedValueBox<[Int: Subscriber]>([:])
    private let nextID = NIOLockedValueBox<Int>(0)
    private let bufferLimit: Int

    public init(bufferLimit: Int = 4096) {
        self.bufferLimit = bufferLimit
    }

    /// A stream of the events that pass `filter`, from now on.
    public func subscribe(where filter: @escaping @Sendable (Event) -> Bool = { _ in true }) -> AsyncStream<Event> {
        let id = nextID.withLockedValue { value in
            value += 1
            return value
        }
        let (stream, continuation) = AsyncStream.makeStream(
            of: Event.self,
            bufferingPolicy: .bufferingNewest(bufferLimit)
        )
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLockedValue { $0.removeValue(forKey: id) }
        }
        subscribers.withLockedValue { $0[id] = Subscriber(filter: filter, continuation: continuation) }
        return stream
    }

    public func publish(_ event: Event) {
        let targets = subscribers.withLockedValue { Array($0.values) }
        for subscriber in targets where subscriber.filter(event) {
            if case .dropped = subscriber.continuation.yield(event) {
                subscriber.continuation.finish()  // it fell behind: end its stream rather than lie
            }
        }
    }
}
