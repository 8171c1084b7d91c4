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
