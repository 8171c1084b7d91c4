import BatonCore
import BatonStore
import BatonTestSupport
import Testing

/// A follower cut off from etcd while the leader rolled over copies the old pool at 0 in the
/// same copy as the cutover (the leader no longer waited for it): its schedulers keep the
/// pool's sandboxes until its own requests on them end, or for the drain timeout.
@Suite("Launcher local drains", .timeLimit(.minutes(1)))
struct LauncherLocalDrainTests {
    /// A follower that holds `held` on v1's pool when it copies v2 live and v1 at 0 at once,
    /// and what its scheduler heard of v1's pool in that copy.
    private struct CaughtUp {
        let directory = TemporaryDirectory()
        let follower: CoreHarness
        let pool: PoolID
        let held: Lease
        var pushed: AsyncStream<DesiredUpdate>.Iterator
        let heardAtCopy: Int?

        init(drainTimeout: Duration) async throws {
            let store = try SQLiteStore(directory: directory.path)
            let leader = try await CoreHarness(restoringFrom: store)
            follower = await CoreHarness()
            await follower.launcher.follow("a test follows")
            let (_, _, updates) = await follower.launcher.subscribeScheduler(name: "fake")
            pushed = updates.makeAsyncIterator()
            var events = leader.events()
            let first = try await leader.deploy("shop", "v1", services: [web(image: "a", scheduler: "fake")])
            pool = try await leader.pool(of: first)
            try await leader.ready("leader-a", pool: pool)
            await events.next(.deployDone) { $0.deployment == first }
            try await follower.copy(from: leader, store)
            _ = await pushed.next()
            try await follower.ready("follower-a", pool: pool)
            held = try await follower.broker.acquire(app: "shop", service: "web", wait: .seconds(5))

            let second = try await leader.deploy(
                "shop",
                "v2",
                services: [web(image: "b", scheduler: "fake")],
                drainTimeout: drainTimeout
            )
            try await leader.ready("leader-b", pool: try await leader.pool(of: second))
            await events.next(.deployDone) { $0.deployment == second }
            #expect(try await leader.desired(pool) == 0, "the leader, alone in its view, scaled v1 down")
            try await follower.copy(from: leader, store)
            let v1 = pool
            heardAtCopy = await pushed.next()?.pools.first { $0.pool == v1 }?.desired
        }

        /// The count v1's pool is heard at next.
        mutating func nextHeard() async -> Int? {
            while let update = await pushed.next() {
                if let mine = update.pools.first(where: { $0.pool == pool }) { return mine.desired }
            }
            return nil
        }
    }

    @Test func theSchedulerKeepsThePoolUntilTheFollowersOwnRequestsEnd() async throws {
        var caughtUp = try await CaughtUp(drainTimeout: .seconds(30))
        defer { caughtUp.directory.remove() }
        try #require(caughtUp.heardAtCopy == 1, "v1 keeps its sandbox under the follower's own request")
        await caughtUp.follower.broker.release(caughtUp.held.id)
        #expect(await caughtUp.nextHeard() == 0, "once the request ends, v1 stops")
    }

    @Test func theHoldEndsAtTheDrainTimeout() async throws {
        var caughtUp = try await CaughtUp(drainTimeout: .seconds(7))
        defer { caughtUp.directory.remove() }
        try #require(caughtUp.heardAtCopy == 1)
        let clock = caughtUp.follower.clock
        await clock.waitForSleeper(until: clock.now + .seconds(7))
        clock.advance(by: .seconds(7))
        #expect(await caughtUp.nextHeard() == 0, "a request that outlives the drain timeout does not keep v1")
    }
}
