import Testing

@testable import BatonCore

/// A lease on its own: renewal, keep-alive past revocation, and stale wake-ups.
@Suite("Lease lifecycle")
struct LeaseLifecycleTests {
    private func at(_ ms: Int64) -> CoreInstant { CoreInstant(sinceStart: .milliseconds(ms)) }

    @Test func anActiveLeaseRenewsAndExpiresAnnouncedAtItsLatestDeadlineOnly() {
        var lease = LeaseLifecycle(grantedAt: at(1_000), ttl: .seconds(3))
        #expect(lease.expiresAt == at(4_000))
        let renewed = lease.renew(now: at(2_000), ttl: .seconds(3))
        #expect(renewed == [.expireAt(at(5_000))])
        #expect(lease.deadlinePassed(at(4_000)) == [], "the wake-up for the old deadline is stale")
        #expect(lease.deadlinePassed(at(5_000)) == [.announce(.expired), .forget])
    }

    @Test func aRevokedLeaseIsNotRenewedButIsKeptAliveAndExpiresSilently() {
        var lease = LeaseLifecycle(grantedAt: at(0), ttl: .seconds(3))
        let revoked = lease.revoke()
        let revokedAgain = lease.revoke()
        #expect(revoked && !revokedAgain, "each lease is announced revoked once")
        let renewed = lease.renew(now: at(1_000), ttl: .seconds(3))
        #expect(renewed == nil)
        let kept = lease.keepAlive(now: at(10_000), ttl: .seconds(3))
        #expect(kept == [.expireAt(at(13_000))], "what it carries keeps it past any TTL")
        #expect(lease.deadlinePassed(at(13_000)) == [.forget], "its holders heard of the revocation already")
    }

    @Test func aStreamMarkStays() {
        var lease = LeaseLifecycle(grantedAt: at(0), ttl: .seconds(3))
        lease.carriesStream()
        _ = lease.revoke()
        _ = lease.keepAlive(now: at(1), ttl: .seconds(3))
        #expect(lease.carries == .stream)
    }
}
