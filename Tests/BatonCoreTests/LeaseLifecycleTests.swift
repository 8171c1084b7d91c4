@testable import BatonCore
import Testing

/// A lease on its own: renewal, keep-alive past revocation, and stale wake-ups.
@Suite("Lease lifecycle")
struct LeaseLifecycleTests {
    @Test func anActiveLeaseRenewsAndExpiresAnnouncedAtItsLatestDeadlineOnly() {
        var lease = LeaseLifecycle(grantedAtMs: 1_000, ttlMs: 3_000)
        #expect(lease.expiresAtMs == 4_000)
        let renewed = lease.renew(nowMs: 2_000, ttlMs: 3_000)
        #expect(renewed == [.expireAt(ms: 5_000)])
        #expect(lease.deadlinePassed(4_000) == [], "the wake-up for the old deadline is stale")
        #expect(lease.deadlinePassed(5_000) == [.announce(.expired), .forget])
    }

    @Test func aRevokedLeaseIsNotRenewedButIsKeptAliveAndExpiresSilently() {
        var lease = LeaseLifecycle(grantedAtMs: 0, ttlMs: 3_000)
        let revoked = lease.revoke()
        let revokedAgain = lease.revoke()
        #expect(revoked && !revokedAgain, "each lease is announced revoked once")
        let renewed = lease.renew(nowMs: 1_000, ttlMs: 3_000)
        #expect(renewed == nil)
        let kept = lease.keepAlive(nowMs: 10_000, ttlMs: 3_000)
        #expect(kept == [.expireAt(ms: 13_000)], "what it carries keeps it past any TTL")
        #expect(lease.deadlinePassed(13_000) == [.forget], "its holders heard of the revocation already")
    }

    @Test func aStreamMarkStays() {
        var lease = LeaseLifecycle(grantedAtMs: 0, ttlMs: 3_000)
        lease.carriesStream()
        _ = lease.revoke()
        _ = lease.keepAlive(nowMs: 1, ttlMs: 3_000)
        #expect(lease.carries == .stream)
    }
}
