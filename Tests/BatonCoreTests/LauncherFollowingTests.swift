import BatonCore
import BatonStore
import BatonTestSupport
import Testing

/// A follower's launcher copies what the leader stored: its broker routes as the leader's
/// does once its own sandboxes report, its schedulers hear their pools, and it decides
/// nothing on its own, whatever its reports and clock say, until it leads.
@Suite("Launcher following", .timeLimit(.minutes(1)))
struct LauncherFollowingTests {
    /// A leader on a store in `directory`, and a follower with its own broker.
    private func cluster(_ directory: TemporaryDirectory) async throws -> (CoreHarness, SQLiteStore, CoreHarness) {
        let store = try SQLiteStore(directory: directory.path)
        let leader = try await CoreHarness(restoringFrom: store)
        let follower = await CoreHarness()
        await follower.launcher.follow("a test follows")
        return (leader, store, follower)
    }

    /// What the leader has stored, once it is durable.
    private func stored(_ leader: CoreHarness, _ store: SQLiteStore) async throws -> StoredState {
        try await leader.launcher.durable()
        return try store.load()
    }

    @Test func theFollowersBrokerServesTheLeadersActiveVersionFromItsOwnSandboxes() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (leader, store, follower) = try await cluster(directory)
        var events = leader.events()
        let first = try await leader.live("v1", [web(image: "a")], sandboxes: ["leader-a"], events: &events)
        await follower.launcher.copy(try await stored(leader, store))
        let pool = try await leader.pool(of: first)
        try await follower.ready("follower-a", pool: pool)
        #expect(
            try await follower.broker.acquire(app: "shop", service: "web", wait: .seconds(5)).sandbox == "follower-a"
        )
        #expect(try await follower.status("shop").activeVersion == "v1")

        var revocations = follower.revocations()
        let second = try await leader.live("v2", [web(image: "b")], sandboxes: ["leader-b"], events: &events)
        let newPool = try await leader.pool(of: second)
        await follower.launcher.copy(try await stored(leader, store))
        let revoked = await revocations.next()
        #expect(revoked?.reason == .cutover, "the follower's own leases on v1 are revoked at the copied cutover")
        try await follower.ready("follower-b", pool: newPool)
        #expect(
            try await follower.broker.acquire(app: "shop", service: "web", wait: .seconds(5)).sandbox == "follower-b"
        )
    }

    @Test func copyingTheSameStateAgainChangesNothing() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (leader, store, follower) = try await cluster(directory)
        var events = leader.events()
        let first = try await leader.live("v1", [web(image: "a")], sandboxes: ["leader-a"], events: &events)
        let state = try await stored(leader, store)
        await follower.launcher.copy(state)
        try await follower.ready("follower-a", pool: try await leader.pool(of: first))
        let lease = try await follower.broker.acquire(app: "shop", service: "web", wait: .seconds(5))
        await follower.launcher.copy(state)
        await follower.launcher.copy(state)
        #expect(try await follower.broker.renew(lease.id).id == lease.id, "no copy revoked the lease")
    }

    @Test func theFollowerDecidesNothingOnItsOwnUntilItLeads() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (leader, store, follower) = try await cluster(directory)
        var events = leader.events()
        let first = try await leader.live("v1", [web(image: "a")], sandboxes: ["leader-a"], events: &events)
        let waiting = try await leader.deploy("shop", "v2", services: [web(image: "b")], readyTimeout: .seconds(30))
        let newPool = try await leader.pool(of: waiting)
        await follower.launcher.copy(try await stored(leader, store))
        try await follower.ready("follower-a", pool: try await leader.pool(of: first))
        var followerEvents = follower.events()
        try await follower.ready("follower-b", pool: newPool)  // the quorum, on the follower's broker
        follower.clock.advance(by: .seconds(3600))  // past every deadline
        #expect(try await follower.status("shop").activeVersion == "v1", "the leader cuts over, not a follower")
        #expect(try await follower.status("shop").deployments.last?.state == .waiting)

        // It leads: the deploy that waits is evaluated again, as after a restart.
        try await follower.launcher.lead(from: try SQLiteStore(directory: directory.path))
        try await follower.ready("follower-b2", pool: newPool)
        await followerEvents.next(.deployCutover)
        #expect(try await follower.status("shop").activeVersion == "v2")
    }

    /// Unlike a restarted host, whose leases died with it, a new leader's own leases (and
    /// other nodes') on a draining pool live on: the drain it finds goes on until they end.
    @Test func aFollowerThatTakesTheLeadMidDrainLetsTheDrainGoOnUntilItsLeasesEnd() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (leader, store, follower) = try await cluster(directory)
        var events = leader.events()
        let first = try await leader.live("v1", [web(image: "a")], sandboxes: ["leader-a"], events: &events)
        let oldPool = try await leader.pool(of: first)
        await follower.launcher.copy(try await stored(leader, store))
        try await follower.ready("follower-a", pool: oldPool)
        let held = try await follower.broker.acquire(app: "shop", service: "web", wait: .seconds(5))
        _ = try await leader.broker.acquire(app: "shop", service: "web")  // keeps the leader's drain open

        let second = try await leader.deploy("shop", "v2", services: [web(image: "b")])
        try await leader.ready("leader-b", pool: try await leader.pool(of: second))
        await events.next(.deployCutover)
        await follower.launcher.copy(try await stored(leader, store))
        #expect(try await follower.status("shop").deployments.last?.state == .draining)

        var followerEvents = follower.events()
        try await follower.launcher.lead(from: store)  // the leader is gone; its leases with it
        #expect(try await follower.desired(oldPool) == 1, "the follower's own lease still holds v1")
        await follower.broker.release(held.id)
        let scaled = await followerEvents.next(.poolScaledDown)
        #expect(scaled?.pool == oldPool)
        #expect(scaled?.reason == "drained")
        await followerEvents.next(.deployDone) { $0.deployment == second }
    }

    @Test func aFollowerRefusesEveryCallThatChangesState() async throws {
        let follower = await CoreHarness()
        await follower.launcher.follow("a test follows")
        let refusals: [() async throws -> Void] = [
            { _ = try await follower.deploy("shop", "v1", services: [web(image: "a")]) },
            {
                try await follower.launcher.setRoute(
                    RouteSpec(host: "shop.test", app: "shop"),
                    allowingUnknownApp: true
                )
            },
            { try await follower.launcher.removeRoute(key: "shop.test") },
            { try await follower.launcher.pause(app: "shop") },
            { try await follower.launcher.resume(app: "shop") },
            { try await follower.launcher.remove(app: "shop", drainTimeout: .zero) },
            { _ = try await follower.launcher.rollback(app: "shop") },
            { try await follower.launcher.scale(app: "shop", service: "web", instances: 1, drainTimeout: .zero) },
        ]
        for refused in refusals {
            await #expect(throws: CoreError.notLeading("a test follows")) { try await refused() }
        }
    }

    @Test func theFollowersSchedulersHearTheirPoolsAsTheLeaderChangesThem() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (leader, store, follower) = try await cluster(directory)
        let (_, snapshot, updates) = await follower.launcher.subscribeScheduler(name: "fake")
        #expect(snapshot.isEmpty)
        var pushed = updates.makeAsyncIterator()
        let first = try await leader.deploy("shop", "v1", services: [web(3, image: "a", scheduler: "fake")])
        await follower.launcher.copy(try await stored(leader, store))
        let update = await pushed.next()
        #expect(update?.pools.map(\.pool) == [try await leader.pool(of: first)])
        #expect(update?.pools.first?.desired == 3)

        // A state without the pool (a deposed leader's copy of what it never wrote): the
        // scheduler is told to stop it before it is forgotten, or its sandboxes would run on.
        var withoutPool = try await stored(leader, store)
        withoutPool.pools = []
        await follower.launcher.copy(withoutPool)
        let stopped = await pushed.next()
        #expect(stopped?.pools.map(\.pool) == [try await leader.pool(of: first)])
        #expect(stopped?.pools.first?.desired == 0)
    }
}

extension LauncherFollowingTests {
    /// A rollback takes back a pool the leader scaled to 0: the follower serves it again from
    /// its own sandboxes once they report.
    @Test func theFollowerServesAPoolTheLeaderTookBack() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteStore(directory: directory.path)
        let leader = try await CoreHarness(restoringFrom: store)
        let follower = await CoreHarness()
        await follower.launcher.follow("a test follows")
        var events = leader.events()
        let first = try await leader.live("v1", [web(image: "a")], sandboxes: ["leader-a"], events: &events)
        let oldPool = try await leader.pool(of: first)
        _ = try await leader.live("v2", [web(image: "b")], sandboxes: ["leader-b"], events: &events)
        try await leader.launcher.durable()
        await follower.launcher.copy(try store.load())
        #expect(try await leader.desired(oldPool) == 0)

        let back = try await leader.launcher.rollback(app: "shop")
        try await leader.ready("leader-a2", pool: oldPool)
        await events.next(.deployDone) { $0.deployment == back.deployment }
        try await leader.launcher.durable()
        await follower.launcher.copy(try store.load())
        try await follower.ready("follower-a", pool: oldPool)
        let lease = try await follower.broker.acquire(app: "shop", service: "web", wait: .seconds(5))
        #expect(lease.version == "v1")
    }

    /// A follower that copied a pool a deploy waits for while it was still at 0 retires it;
    /// once its count rises, the pool takes its sandboxes' reports again, whatever waited for
    /// it meanwhile. (It stayed retired: every report left its sandboxes retiring, and the
    /// follower never served the version.)
    @Test func aWaitedForPoolCopiedAtZeroServesOnceItsCountRises() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (leader, store, follower) = try await cluster(directory)
        var events = leader.events()
        _ = try await leader.live("v1", [web(image: "a")], sandboxes: ["leader-a"], events: &events)
        let waiting = try await leader.deploy("shop", "v2", services: [web(image: "b")], readyTimeout: .seconds(30))
        let pool = try await leader.pool(of: waiting)
        let risen = try await stored(leader, store)
        var atZero = risen
        atZero.pools = risen.pools.map { stored in
            var copy = stored
            if copy.id == pool { copy.desired = 0 }
            return copy
        }
        await follower.launcher.copy(atZero)
        await follower.launcher.copy(risen)
        try await leader.ready("leader-b", pool: pool)
        await events.next(.deployCutover) { $0.deployment == waiting }
        await follower.launcher.copy(try await stored(leader, store))
        try await follower.ready("follower-b", pool: pool)
        let lease = try await follower.broker.acquire(app: "shop", service: "web", wait: .seconds(5))
        #expect(lease.version == "v2")
    }
}
