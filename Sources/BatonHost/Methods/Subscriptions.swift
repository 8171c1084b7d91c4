import BatonJSON
import BatonRPC
import NIOConcurrencyHelpers

/// Forwards a stream of core events to a session as notifications for as long as the
/// session lives; the forwarding ends with the connection. A stream that ends while the
/// session lives means its reader fell too far behind: the session is closed rather than
/// left to miss events without knowing.
enum Subscriptions {
    private static let counter = NIOLockedValueBox<Int>(0)

    /// A new subscription id, unique within this host.
    static func newID(prefix: String) -> String {
        let number = counter.withLockedValue { value in
            value += 1
            return value
        }
        return "\(prefix)-\(number)"
    }

    static func forward<Event: Sendable>(
        _ stream: AsyncStream<Event>, to session: RPCSession, method: String,
        _ encode: @escaping @Sendable (Event) -> JSON
    ) {
        let task = Task {
            for await event in stream {
                session.notify(method, encode(event))
            }
            if !Task.isCancelled { session.close(reason: "\(method) subscription fell too far behind") }
        }
        session.closed.whenComplete { _ in task.cancel() }
    }
}
