/// One lease, from its grant until it is released or expires. The transitions are pure and
/// return what the broker must do; a lease that is gone is no longer in the broker's table.
///
/// | standing \ event | renew | keep alive | revoke | its deadline passes | release |
/// |---|---|---|---|---|---|
/// | active | active, a TTL from now | active, a TTL from now | revoked: announce | gone: announce the expiry | gone |
/// | revoked | refused | revoked, a TTL from now | – | gone | gone |
///
/// Keep-alive is how a revoked lease that still carries requests or a stream outlives its
/// TTL: its holder keeps it alive until what it carries ends.
struct LeaseLifecycle: Equatable {
    enum Action: Equatable {
        /// Wake at the new deadline, replacing the earlier wake-up.
        case expireAt(CoreInstant)
        /// Tell the lease's holders it takes no new requests.
        case announce(RevocationReason)
        /// Take it out of the table and give its slots back.
        case forget
    }

    private(set) var standing = LeaseStanding.active
    private(set) var carries = LeaseLoad.requests
    private(set) var expiresAt: CoreInstant

    init(grantedAt now: CoreInstant, ttl: Duration) {
        expiresAt = now + ttl
    }

    /// A holder extends it; nil when it is revoked, and takes no new requests.
    mutating func renew(now: CoreInstant, ttl: Duration) -> [Action]? {
        guard standing == .active else { return nil }
        return keepAlive(now: now, ttl: ttl)
    }

    /// Its holder still serves on it, revoked or not.
    mutating func keepAlive(now: CoreInstant, ttl: Duration) -> [Action] {
        expiresAt = now + ttl
        return [.expireAt(expiresAt)]
    }

    /// Its sandbox stops taking requests. Returns whether this changed anything, so that
    /// the broker announces each revoked lease once.
    mutating func revoke() -> Bool {
        guard standing == .active else { return false }
        standing = .revoked
        return true
    }

    mutating func carriesStream() {
        carries = .stream
    }

    /// A wake-up for `deadline`; one for a deadline since moved is stale and does nothing.
    func deadlinePassed(_ deadline: CoreInstant) -> [Action] {
        guard deadline == expiresAt else { return [] }
        return standing == .active ? [.announce(.expired), .forget] : [.forget]
    }
}
