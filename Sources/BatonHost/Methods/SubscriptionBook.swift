/// The subscriptions of every session, one per session and notification method. The
/// transitions are pure and return what to do with the forwarding tasks (`Handle`).
///
/// | subscription \ event | subscribe again (same session, method) | its stream ends | session closes |
/// |---|---|---|---|
/// | live | replaced: cancel it, the new one is live | over: close the session, it fell behind | over: cancel it |
/// | replaced, over | – | – (it was cancelled) | – |
struct SubscriptionBook<Handle: Identifiable & Sendable>: Sendable {
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
