import Testing

@testable import BatonCore

/// A deployment's drain on its own.
@Suite("Drain lifecycle")
struct DrainLifecycleTests {
    @Test func aPoolIsReleasedWhenItsLastSandboxDrainsAndTheDrainEndsWithTheLastPool() {
        var drain = DrainLifecycle(holding: ["p-1": ["a", "b"], "p-2": ["c"]])
        #expect(drain.begin() == [])
        #expect(drain.sandboxDrained("a", of: "p-1") == [])
        #expect(drain.sandboxDrained("a", of: "p-1") == [], "a repeated signal changes nothing")
        #expect(drain.sandboxDrained("b", of: "p-1") == [.release(pool: "p-1", .drained)])
        #expect(drain.sandboxDrained("c", of: "p-2") == [.release(pool: "p-2", .drained), .finish])
        #expect(drain.phase == .over)
    }

    @Test func nothingToWaitForEndsAtOnce() {
        var drain = DrainLifecycle(holding: [:])
        #expect(drain.begin() == [.finish])
    }

    @Test func streamsKeepTheirPoolsPastTheRequestDeadlineUntilTheStreamDeadline() {
        var drain = DrainLifecycle(holding: ["p-1": ["a"], "p-2": ["b"]])
        #expect(
            drain.requestDeadlinePassed(streaming: ["p-2"]) == [.release(pool: "p-1", .drainTimeout), .waitForStreams]
        )
        #expect(drain.holds("p-2") && !drain.holds("p-1"))
        #expect(drain.requestDeadlinePassed(streaming: []) == [], "the request deadline passes once")
        #expect(drain.streamDeadlinePassed() == [.release(pool: "p-2", .streamDrainDeadline), .finish])
    }

    @Test func aPoolThatServesAgainIsLetGoOfWithoutAScaleDown() {
        var drain = DrainLifecycle(holding: ["p-1": ["a"]])
        #expect(drain.poolServesAgain("p-1") == [.finish])
        #expect(drain.sandboxDrained("a", of: "p-1") == [])
    }
}

/// A drain the cluster's other nodes take part in.
@Suite("Drain lifecycle across nodes")
struct DrainElsewhereLifecycleTests {
    @Test func aPoolHeldElsewhereIsReleasedOnlyOnceItsSandboxesAndTheOtherNodesAreDone() {
        var drain = DrainLifecycle(holding: ["p-1": ["a"], "p-2": []], elsewhere: ["p-1", "p-2"])
        #expect(drain.begin() == [], "a pool with nothing here still waits for the other nodes")
        #expect(drain.sandboxDrained("a", of: "p-1") == [])
        #expect(drain.drainedElsewhere("p-2") == [.release(pool: "p-2", .drained)])
        #expect(drain.drainedElsewhere("p-2") == [], "a repeated answer changes nothing")
        #expect(drain.drainedElsewhere("p-1") == [.release(pool: "p-1", .drained), .finish])
    }

    @Test func theDeadlinesReleaseAPoolTheOtherNodesStillHold() {
        var drain = DrainLifecycle(holding: [:], elsewhere: ["p-1"])
        #expect(drain.begin() == [])
        #expect(drain.requestDeadlinePassed(streaming: []) == [.release(pool: "p-1", .drainTimeout), .finish])
    }

    @Test func aPoolNotHeldAnywhereIsNotHeld() {
        var drain = DrainLifecycle(holding: ["p-1": []])
        #expect(!drain.holds("p-1"))
        #expect(drain.begin() == [.finish])
    }
}
