import BatonCore
import BatonStore
import BatonTestSupport
import Testing

/// An operator's stop (`app.scale` to 0) is stored with its count while it drains: a
/// follower drains its share at that count instead of stopping its sandboxes under its own
/// requests, a new leader resumes the drain, and a restarted host ends it.
@Suite("Launcher stop copies", .timeLimit(.minutes(1)))
struct LauncherStopCopyTests {
    /// A leader with v1 live on `leader-a`, holding one lease on it so its stop drains, and
    /// a follower that serves v1 from `follower-a` and holds `held` on it.
    private struct Stopping {
        let directory = TemporaryDirectory()
        let store: SQLiteStore
        let leader: CoreHarness
        let follower: CoreHarness
        let pool: PoolID
        let held: Lease
        let leaderHeld: Lease
        var events: EventRecorder

        init() async throws {
            store = try SQLiteStore(directory: directory.path)
            leader = try await CoreHarness(restoringFrom: store)
            follower = await CoreHarness()
            await follower.launcher.follow("a test follows")
            events = leader.events()
            let first = try await leader.live("v1", [web(image: "a")], sandboxes: ["leader-a"], events: &events)
            pool = try await leader.pool(of: first)
            try await follower.copy(from: leader, store)
            try await follower.ready("follower-a", pool: pool)
            held = try await follower.broker.acquire(app: "shop", service: "web", wait: .seconds(5))
            leaderHeld = try await leader.broker.acquire(app: "shop", service: "web")
            try await leader.launcher.scale(app: "shop", service: "web", instances: 0, drainTimeout: .seconds(30))
        }
    }

    @Test func aStopThatDrainsIsStoredWithItsCountAndTheFollowerDrainsAtThatCount() async throws {
        var stopping = try await Stopping()
        defer { stopping.directory.remove() }
        let (leader, follower, pool) = (stopping.leader, stopping.follower, stopping.pool)
        try await leader.launcher.durable()
        let stored = try stopping.store.load().pools.first { $0.id == pool }
        #expect(stored?.desired == 1, "the pool keeps its count while it drains")
        #expect(stored?.stopDrain == .seconds(30))

        var revocations = follower.revocations()
        try await follower.copy(from: leader, stopping.store)
        #expect(await revocations.next()?.reason == .draining, "the follower's own lease is told to finish")
        #expect(try await follower.desired(pool) == 1, "its sandbox keeps running under the request it carries")
        #expect(try await follower.status("shop").pools.first?.stop == "draining")

        await leader.broker.release(stopping.leaderHeld.id)
        let scaled = await stopping.events.next(.poolScaledDown)
        #expect(scaled?.pool == pool)
        try await follower.copy(from: leader, stopping.store)
        #expect(try await follower.desired(pool) == 0)
        #expect(try await follower.status("shop").pools.first?.stop == "stopped")
        await follower.broker.release(stopping.held.id)
    }

    @Test func aNewLeaderResumesTheStopUntilItsOwnLeasesEnd() async throws {
        let stopping = try await Stopping()
        defer { stopping.directory.remove() }
        let (follower, pool) = (stopping.follower, stopping.pool)
        try await follower.copy(from: stopping.leader, stopping.store)
        var followerEvents = follower.events()
        try await follower.launcher.lead(from: stopping.store)  // the leader is gone; its lease with it
        #expect(try await follower.desired(pool) == 1, "the follower's own lease still holds the pool")
        #expect(try await follower.status("shop").pools.first?.stop == "draining")

        await follower.broker.release(stopping.held.id)
        let scaled = await followerEvents.next(.poolScaledDown)
        #expect(scaled?.pool == pool)
        #expect(scaled?.reason == "drained")
        #expect(try await follower.desired(pool) == 0)
    }

    @Test func aNewLeaderEndsAResumedStopAtItsDrainTimeout() async throws {
        let stopping = try await Stopping()
        defer { stopping.directory.remove() }
        let follower = stopping.follower
        try await follower.copy(from: stopping.leader, stopping.store)
        var followerEvents = follower.events()
        try await follower.launcher.lead(from: stopping.store)
        await follower.clock.waitForSleeper(until: follower.clock.now + .seconds(30))
        follower.clock.advance(by: .seconds(30))
        let scaled = await followerEvents.next(.poolScaledDown)
        #expect(scaled?.pool == stopping.pool)
        #expect(scaled?.reason == "drain timeout")
    }

    @Test func aRestartedHostEndsTheStopItFinds() async throws {
        let stopping = try await Stopping()
        defer { stopping.directory.remove() }
        try await stopping.leader.launcher.durable()
        let restarted = try await CoreHarness(restoringFrom: try SQLiteStore(directory: stopping.directory.path))
        #expect(try await restarted.desired(stopping.pool) == 0, "the leases it waited for died with the process")
        #expect(try await restarted.status("shop").pools.first?.stop == "stopped")
        try await restarted.launcher.durable()
        #expect(try SQLiteStore(directory: stopping.directory.path).load().pools.first?.stopDrain == nil)
    }
}

extension CoreHarness {
    /// Copies what `leader` stored in `store`, once it is durable, as a follower's watch does.
    func copy(from leader: CoreHarness, _ store: SQLiteStore) async throws {
        try await leader.launcher.durable()
        await launcher.copy(try store.load())
    }
}
