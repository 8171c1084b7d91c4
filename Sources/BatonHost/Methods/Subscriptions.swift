import BatonJSON
import BatonProtocol
import BatonRPC
import NIOConcurrencyHelpers

/// Forwards a stream of core events to a session as notifications for as long as the
/// session lives, one subscription per session and method (see `SubscriptionBook`).
enum Subscriptions {
    /// A subscription's forwarding task, known by a number unique within the process.
    struct Forwarder: SubscriptionHandle {
        var id: Int
        var subscription: String
        var task: Task<Void, Never>
        /// Closed under its lock before the call that ends the subscription is answered, and
        /// each notification is sent under it: none can follow that answer.
        var gate: NIOLockedValueBox<Gate>
    }

    enum Gate {
        case open, closed
    }

    private static let counter = NIOLockedValueBox<Int>(0)
    private static let book = NIOLockedValueBox(SubscriptionBook<Forwarder>())

    /// A new subscription id, unique within this host.
    static func newID(prefix: String) -> String {
        "\(prefix)-\(number())"
    }

    private static func number() -> Int {
        counter.withLockedValue { value in
            value += 1
            return value
        }
    }

    /// Forwards `stream` on the session of `call`, from once the call's answer is written:
    /// no notification comes before the result that names its subscription.
    static func forward<Event: Sendable>(
        _ stream: AsyncStream<Event>,
        as subscription: String,
        answering call: RPCCall,
        notification: ProtocolNotification,
        _ encode: @escaping @Sendable (Event) -> JSON
    ) {
        let session = call.session
        let id = number()
        let gate = NIOLockedValueBox(Gate.open)
        let (answered, answer) = AsyncStream.makeStream(of: Void.self)
        call.afterAnswer.add { answer.finish() }
        // Started under the book's lock, so that it is in the book before its end can be.
        let actions = book.withLockedValue { book in
            let task = Task {
                for await _ in answered {}  // until the answer is out, or the subscription is cancelled
                for await event in stream {
                    let message = encode(event)
                    let sent = gate.withLockedValue { gate in
                        guard gate == .open else { return false }
                        session.notify(notification.rawValue, message)
                        return true
                    }
                    guard sent else { return }
                }
                perform(
                    Self.book.withLockedValue {
                        $0.streamEnded(session: session.id, method: notification.rawValue, handle: id)
                    },
                    on: session
                )
            }
            return book.subscribed(
                session: session.id,
                method: notification.rawValue,
                handle: Forwarder(id: id, subscription: subscription, task: task, gate: gate)
            )
        }
        perform(actions, on: session)
        session.closed.whenComplete { _ in
            perform(book.withLockedValue { $0.sessionClosed(session.id) }, on: session)
        }
    }

    /// Ends the session's subscription `subscription`, if it has one by that id.
    static func unsubscribe(_ subscription: String, on session: RPCSession) {
        perform(book.withLockedValue { $0.unsubscribed(session: session.id, subscription: subscription) }, on: session)
    }

    private static func perform(_ actions: [SubscriptionBook<Forwarder>.Action], on session: RPCSession) {
        for action in actions {
            switch action {
            case .cancel(let forwarder):
                forwarder.gate.withLockedValue { $0 = .closed }
                forwarder.task.cancel()
            case .closeSession(let reason): session.close(reason: reason)
            }
        }
    }
}
