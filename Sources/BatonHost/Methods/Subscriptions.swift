import BatonJSON
import BatonRPC
import NIOConcurrencyHelpers

/// Forwards a stream of core events to a session as notifications for as long as the
/// session lives. A session has at most one subscription per notification method: a new
/// one (a scheduler subscribing again after a gap) ends the earlier one, which sends
/// nothing more. A stream that ends while the session lives means its reader fell too far
/// behind: the session is closed rather than left to miss events without knowing.
enum Subscriptions {
    private static let counter = NIOLockedValueBox<Int>(0)
    /// The forwarding task of each session's subscription, by session id and method.
    private static let live = NIOLockedValueBox<[String: [String: Task<Void, Never>]]>([:])

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
                guard !Task.isCancelled else { return }
                session.notify(method, encode(event))
            }
            if !Task.isCancelled { session.close(reason: "\(method) subscription fell too far behind") }
        }
        let replaced = live.withLockedValue { all in
            defer { all[session.id, default: [:]][method] = task }
            return all[session.id]?[method]
        }
        replaced?.cancel()
        session.closed.whenComplete { _ in
            let tasks = live.withLockedValue { $0.removeValue(forKey: session.id) }
            for task in tasks?.values ?? [:].values { task.cancel() }
        }
    }
}
