/// A node's membership in etcd: the lease every key of the node hangs on. It is renewed every
/// third of its TTL; a renewal that fails is tried again sooner; once the lease would have
/// expired by the node's own clock, the node takes itself for gone (a leader stops leading)
/// and joins again with a new lease. Pure: the caller keeps time and talks to etcd.
public struct SessionLifecycle: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public enum State: Sendable, Hashable {
        /// No lease yet, or the last one is gone: granting one.
        case joining
        /// The lease was renewed (or granted) by a call sent at `renewedAt`; etcd keeps it at
        /// least until `renewedAt` + TTL, so the node counts on it only until then.
        case alive(EtcdLeaseID, renewedAt: Instant)
        /// Stopped; the lease is revoked.
        case left
    }

    public enum Event: Sendable, Hashable {
        /// etcd granted `lease` to a call sent at `sentAt`.
        case granted(EtcdLeaseID, sentAt: Instant)
        case grantFailed(now: Instant)
        /// A renewal sent at `sentAt` came back with `ttl` seconds left; 0 means etcd had
        /// already let the lease go.
        case renewed(ttl: Int64, sentAt: Instant)
        case renewFailed(now: Instant)
        /// Time passed with no answer: the lease may have run out.
        case tick(now: Instant)
        case leave
    }

    public enum Action: Sendable, Hashable {
        case grant(after: Duration)
        case renew(at: Instant)
        /// The node has a new lease: its keys must be written again under it.
        case joined(EtcdLeaseID)
        /// The lease is gone or may be: nothing the node wrote under it may be counted on.
        case lost(EtcdLeaseID)
        case revoke(EtcdLeaseID)
    }

    public let ttl: Duration
    public private(set) var state = State.joining

    /// How soon a failed call is tried again.
    var retry: Duration { min(.milliseconds(500), ttl / 10) }

    public init(ttl: Duration) {
        self.ttl = ttl
    }

    /// When the lease must be taken for gone, while alive.
    public var expiresAt: Instant? {
        if case .alive(_, let renewedAt) = state { return renewedAt + ttl }
        return nil
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch (state, event) {
        case (.left, _):
            return []
        case (_, .leave):
            defer { state = .left }
            if case .alive(let lease, _) = state { return [.revoke(lease)] }
            return []
        case (.joining, .granted(let lease, let sentAt)):
            state = .alive(lease, renewedAt: sentAt)
            return [.joined(lease), .renew(at: sentAt + ttl / 3)]
        case (.joining, .grantFailed):
            return [.grant(after: retry)]
        case (.alive(let lease, _), .renewed(let remaining, let sentAt)) where remaining > 0:
            state = .alive(lease, renewedAt: sentAt)
            return [.renew(at: sentAt + ttl / 3)]
        case (.alive(let lease, _), .renewed):
            state = .joining
            return [.lost(lease), .grant(after: .zero)]
        case (.alive(let lease, let renewedAt), .renewFailed(let now)),
            (.alive(let lease, let renewedAt), .tick(let now)):
            if now >= renewedAt + ttl {
                state = .joining
                return [.lost(lease), .grant(after: .zero)]
            }
            return [.renew(at: min(now + retry, renewedAt + ttl))]
        case (.joining, _), (.alive, .granted), (.alive, .grantFailed):
            return []  // late answers of calls the state has moved past
        }
    }
}
