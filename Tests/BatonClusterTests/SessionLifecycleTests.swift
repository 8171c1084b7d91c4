import BatonEtcd
import Testing

/// Every transition of a node's lease, including answers that come late and a clock that
/// jumps past the TTL.
@Suite("Session lifecycle")
struct SessionLifecycleTests {
    private let start = ContinuousClock.now
    private let lease = EtcdLeaseID(7)

    private func alive() -> SessionLifecycle {
        var life = SessionLifecycle(ttl: .seconds(6))
        _ = life.handle(.granted(lease, sentAt: start))
        return life
    }

    @Test func aGrantJoinsAndRenewsAtAThirdOfTheTTL() {
        var life = SessionLifecycle(ttl: .seconds(6))
        #expect(life.handle(.granted(lease, sentAt: start)) == [.joined(lease), .renew(at: start + .seconds(2))])
        #expect(life.expiresAt == start + .seconds(6), "counted from when the grant was sent, not answered")
    }

    @Test func aFailedGrantIsTriedAgainSoon() {
        var life = SessionLifecycle(ttl: .seconds(6))
        #expect(life.handle(.grantFailed(now: start)) == [.grant(after: .milliseconds(500))])
        #expect(life.state == .joining)
    }

    @Test func aRenewalPushesTheExpiryToWhenItWasSent() {
        var life = alive()
        let sent = start + .seconds(2)
        #expect(life.handle(.renewed(ttl: 6, sentAt: sent)) == [.renew(at: sent + .seconds(2))])
        #expect(life.expiresAt == sent + .seconds(6))
    }

    @Test func aRenewalThatFindsTheLeaseGoneLosesItAndJoinsAgain() {
        var life = alive()
        #expect(life.handle(.renewed(ttl: 0, sentAt: start + .seconds(2))) == [.lost(lease), .grant(after: .zero)])
        #expect(life.state == .joining)
    }

    @Test func failedRenewalsAreRetriedUntilTheLeaseWouldHaveExpired() {
        var life = alive()
        #expect(life.handle(.renewFailed(now: start + .seconds(2))) == [.renew(at: start + .milliseconds(2500))])
        #expect(life.handle(.renewFailed(now: start + .milliseconds(5800))) == [.renew(at: start + .seconds(6))])
        #expect(life.handle(.renewFailed(now: start + .seconds(6))) == [.lost(lease), .grant(after: .zero)])
    }

    @Test func aClockThatJumpsPastTheTTLLosesTheLeaseAtOnce() {
        var life = alive()
        #expect(life.handle(.tick(now: start + .seconds(3600))) == [.lost(lease), .grant(after: .zero)])
        #expect(life.handle(.granted(EtcdLeaseID(8), sentAt: start + .seconds(3600))).first == .joined(EtcdLeaseID(8)))
    }

    @Test func answersTheStateHasMovedPastChangeNothing() {
        var joining = SessionLifecycle(ttl: .seconds(6))
        #expect(joining.handle(.renewed(ttl: 6, sentAt: start)) == [])
        #expect(joining.handle(.renewFailed(now: start)) == [])
        var life = alive()
        #expect(life.handle(.granted(EtcdLeaseID(9), sentAt: start)) == [])
        #expect(life.handle(.grantFailed(now: start)) == [])
        #expect(life.state == .alive(lease, renewedAt: start))
    }

    @Test func leavingRevokesALiveLeaseAndEndsEverything() {
        var life = alive()
        #expect(life.handle(.leave) == [.revoke(lease)])
        #expect(life.state == .left)
        #expect(life.handle(.granted(lease, sentAt: start)) == [])
        var joining = SessionLifecycle(ttl: .seconds(6))
        #expect(joining.handle(.leave) == [])
    }
}
