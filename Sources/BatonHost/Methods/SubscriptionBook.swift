/// The subscriptions of every session, one per session and notification method. The
/// transitions are pure and return what to do with the forwarding tasks (`Handle`).
///
/// | subscription \ event | subscribe again (same session, method) | `host.unsubscribe` | its stream ends | session closes |
/// |---|---|---|---|---|
/// | live | replaced: cancel it, the new one is live | over: cancel it | over: close the session, it fell behind | over: cancel it |
/// | replaced, over | – | – | – (it was cancelled) | – |
struct SubscriptionBook<Handle: SubscriptionHandle>: Sendable {
    enum Action {
        case cancel(Handle)
        /// The stream of a live subscription ended: its reader fell too far behind, and the
        /// session is closed rather than left to miss events without knowing.
        case closeSession(reason: String)
    }

    private var live: [String: [String: Handle]] = [:]

    var sessionCount: Int { live.count }

    mutating func subscribed(session: String, method: String, handle: Handle) -> [Action] {
        let replaced = live[session, default: [:]].updateValue(handle, forKey: method)
        return replaced.map { [.cancel($0)] } ?? []
    }

    /// The session's subscription named `subscription` ends; naming none (any more) is fine.
    mutating func unsubscribed(session: String, subscription: String) -> [Action] {
        guard let method = live[session]?.first(where: { $0.value.subscription == subscription })?.key,
            let handle = live[session]?.removeValue(forKey: method)
        else { return [] }
        if live[session]?.isEmpty == true { live.removeValue(forKey: session) }
        return [.cancel(handle)]
    }

    mutating func streamEnded(session: String, method: String, handle: Handle.ID) -> [Action] {
        guard live[session]?[method]?.id == handle else { return [] }
        live[session]?.removeValue(forKey: method)
        if live[session]?.isEmpty == true { live.removeValue(forKey: session) }
        return [.closeSession(reason: "\(method) subscription fell too far behind")]
    }

    mutating func sessionClosed(_ session: String) -> [Action] {
        let handles = live.removeValue(forKey: session) ?? [:]
        return handles.keys.sorted().map { .cancel(handles[$0]!) }
    }
}

/// What the book keeps of a subscription: its forwarding, known by the id its result named.
protocol SubscriptionHandle: Identifiable, Sendable {
    var subscription: String { get }
}
