import Testing

@testable import BatonCore

/// A pool's lifecycle on its own: who may stop it, and what a rollback does to a drain.
@Suite("Pool lifecycle")
struct PoolLifecycleTests {
    @Test func aNewPoolServesThenDrainsAndOnlyItsOwnDrainStopsIt() {
        var pool = PoolLifecycle(.starting(for: "d-1"))
        #expect(pool.isNeeded)
        #expect(pool.serves() == [])
        #expect(pool.released(by: "d-2", reason: .drained) == [.keep(.drained)], "a serving pool is kept")
        #expect(pool.cutAway(by: "d-2") == [])
        #expect(!pool.isNeeded && pool.drainHolder == "d-2")
        #expect(
            pool.released(by: "d-3", reason: .drainTimeout) == [.keep(.drainTimeout)],
            "another drain cannot stop it"
        )
        #expect(pool.released(by: "d-2", reason: .drainTimeout) == [.scaleDown(.drainTimeout)])
        #expect(pool.state == .stopped)
        #expect(pool.released(by: "d-2", reason: .drainTimeout) == [], "a repeated release changes nothing")
    }

    @Test func aRollbackTakesADrainingPoolBackAndGivingItUpDrainsItAgain() {
        var pool = PoolLifecycle(.draining(for: "d-2"))
        #expect(pool.wanted(by: "d-3") == [.returnToService])
        #expect(pool.isNeeded && pool.waiter == "d-3" && pool.drainHolder == "d-2")
        #expect(pool.givenUp(by: "d-9", reason: .rollback) == [], "only the deploy that wants it gives it up")
        #expect(pool.givenUp(by: "d-3", reason: .rollback) == [.resumeDrain])
        #expect(pool.state == .draining(for: "d-2"))
    }

    @Test func aReclaimedPoolThatServesEndsTheOlderDrain() {
        var pool = PoolLifecycle(.reclaimed(for: "d-3", drainingFor: "d-2"))
        #expect(pool.serves() == [.endDrain(of: "d-2")])
        #expect(pool.state == .serving && pool.drainHolder == nil)
    }

    @Test func aDrainThatEndsWhileARollbackWaitsLeavesThePoolToTheRollback() {
        var pool = PoolLifecycle(.reclaimed(for: "d-3", drainingFor: "d-2"))
        #expect(pool.released(by: "d-2", reason: .drainTimeout) == [.keep(.drainTimeout)])
        #expect(pool.state == .starting(for: "d-3"))
        #expect(pool.givenUp(by: "d-3", reason: .rollback) == [.scaleDown(.rollback)])
    }

    @Test func aStoppedPoolTakenBackServesAgainAndASupersededWaitPassesItOn() {
        var pool = PoolLifecycle()
        #expect(pool.wanted(by: "d-4") == [.returnToService], "its sandboxes were retired when it stopped")
        #expect(pool.wanted(by: "d-5") == [])
        #expect(pool.givenUp(by: "d-4", reason: .superseded) == [], "the newer deploy wants it now")
        #expect(pool.state == .starting(for: "d-5"))
    }

    @Test func aRestartKeepsWhatServesOrIsWaitedForAndStopsTheRest() {
        #expect(PoolLifecycle.restored(serving: true, waitedForBy: nil, running: true) == (PoolLifecycle(.serving), []))
        #expect(
            PoolLifecycle.restored(serving: false, waitedForBy: "d-2", running: true) == (
                PoolLifecycle(.starting(for: "d-2")), []
            )
        )
        #expect(
            PoolLifecycle.restored(serving: false, waitedForBy: nil, running: true) == (
                PoolLifecycle(.stopped), [.scaleDown(.hostRestarted)]
            )
        )
        #expect(
            PoolLifecycle.restored(serving: false, waitedForBy: nil, running: false) == (PoolLifecycle(.stopped), [])
        )
    }
}
