import BatonCore
import Testing

/// A leader's drain in a cluster: the pools it cut away from or stopped are scaled down only
/// once the other nodes are done with them too (or at the drain's deadlines), and an answer
/// for an earlier drain of the same pool changes nothing.
@Suite("Launcher drains across nodes", .timeLimit(.minutes(1)))
struct LauncherClusterDrainTests {
    /// A leader that shares its cluster with node "b", serving v1 from sandbox "a".
    private func leader() async throws -> (CoreHarness, EventRecorder, PoolID) {
        let core = await CoreHarness()
        await core.launcher.share(NodeShares(node: "a", nodes: ["a", "b"]))
        var events = core.events()
        let first = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        return (core, events, try await core.pool(of: first))
    }

    @Test func anOldPoolIsScaledDownOnlyOnceTheOtherNodesAreDoneWithIt() async throws {
        var (core, events, oldPool) = try await leader()
        var begun = core.launcher.drainsBegun.makeAsyncIterator()
        let next = try await core.deploy("shop", "v2", services: [web(image: "b")])
        try await core.ready("b", pool: try await core.pool(of: next))
        let drain = try #require(await begun.next())
        #expect(drain.pool == oldPool)
        #expect(try await core.desired(oldPool) == 1, "nothing here holds it, but the other node has not said")

        await core.launcher.drainedElsewhere(ClusterDrain(pool: oldPool, cut: drain.cut - 1))
        #expect(try await core.desired(oldPool) == 1, "an answer for an earlier drain of the pool is stale")

        await core.launcher.drainedElsewhere(drain)
        let scaled = await events.next(.poolScaledDown)
        #expect(scaled?.pool == oldPool)
        #expect(scaled?.reason == "drained")
        await events.next(.deployDone) { $0.deployment == next }
    }

    @Test func aStreamOnAnotherNodeKeepsThePoolPastTheRequestDrainTimeout() async throws {
        var (core, events, oldPool) = try await leader()
        var begun = core.launcher.drainsBegun.makeAsyncIterator()
        let next = try await core.deploy("shop", "v2", services: [web(image: "b")], drainTimeout: .seconds(5))
        try await core.ready("b", pool: try await core.pool(of: next))
        let drain = try #require(await begun.next())
        await core.launcher.streamsElsewhere([oldPool])
        core.clock.advance(by: .seconds(5))
        await core.clock.waitForSleeper(until: core.clock.now + Launcher.defaultStreamDrain)
        #expect(try await core.desired(oldPool) == 1, "the other node's stream keeps the pool")
        await core.launcher.drainedElsewhere(drain)
        let scaled = await events.next(.poolScaledDown) { $0.pool == oldPool }
        #expect(scaled?.reason == "drained")
    }

    @Test func withoutAStreamElsewhereTheRequestDrainTimeoutReleasesThePool() async throws {
        var (core, events, oldPool) = try await leader()
        var begun = core.launcher.drainsBegun.makeAsyncIterator()
        let next = try await core.deploy("shop", "v2", services: [web(image: "b")], drainTimeout: .seconds(5))
        try await core.ready("b", pool: try await core.pool(of: next))
        _ = await begun.next()
        core.clock.advance(by: .seconds(5))
        let scaled = await events.next(.poolScaledDown) { $0.pool == oldPool }
        #expect(scaled?.reason?.contains("drain timeout") == true)
    }

    @Test func anOperatorsStopWaitsForTheOtherNodesToo() async throws {
        var (core, events, oldPool) = try await leader()
        var begun = core.launcher.drainsBegun.makeAsyncIterator()
        try await core.launcher.scale(app: "shop", service: "web", instances: 0, drainTimeout: .seconds(30))
        let drain = try #require(await begun.next())
        #expect(drain.pool == oldPool)
        #expect(try await core.desired(oldPool) == 1, "the other node has not said it is done")
        await core.launcher.drainedElsewhere(drain)
        let scaled = await events.next(.poolScaledDown)
        #expect(scaled?.pool == oldPool)
        #expect(scaled?.reason == "drained")
    }
}
