import BatonCore
import BatonJSON
import Testing

/// Desired state as schedulers see it: a snapshot, then numbered changes, each pool to
/// the scheduler that runs it.
@Suite("Schedulers and desired state", .timeLimit(.minutes(1)))
struct SchedulerDirectoryTests {
    @Test func aSubscriptionStartsWithASnapshotAndThenGetsNumberedChanges() async throws {
        let core = await CoreHarness()
        let first = try await core.deploy("shop", "v1", services: [web(2, image: "a")])
        let pool = try await core.pool(of: first)
        let (_, snapshot, updates) = await core.launcher.subscribeScheduler(name: "local")
        #expect(snapshot.map(\.pool) == [pool])
        #expect(snapshot.first?.desired == 2)
        #expect(snapshot.first?.spec.spec == ["image": "a"])

        var iterator = updates.makeAsyncIterator()
        _ = try await core.deploy("shop", "v2", services: [web(1, image: "b")])
        let superseded = await iterator.next()
        #expect(superseded?.seq == 1)
        #expect(superseded?.pools.first?.pool == pool, "v1 was still waiting: v2 supersedes it")
        #expect(superseded?.pools.first?.desired == 0)
        let started = await iterator.next()
        #expect(started?.seq == 2)
        #expect(started?.pools.first?.version == "v2")
        #expect(started?.pools.first?.desired == 1)
        core.clock.advance(by: .milliseconds(60_000))  // v2 never gets ready either: its pool goes back to 0
        let rollback = await iterator.next()
        #expect(rollback?.seq == 3)
        #expect(rollback?.pools.first?.desired == 0)
    }

    @Test func eachPoolGoesOnlyToItsScheduler() async throws {
        let core = await CoreHarness(defaultScheduler: "local")
        let (_, _, localUpdates) = await core.launcher.subscribeScheduler(name: "local")
        let (_, _, gpuUpdates) = await core.launcher.subscribeScheduler(name: "gpu")
        var local = localUpdates.makeAsyncIterator()
        var gpu = gpuUpdates.makeAsyncIterator()
        _ = try await core.deploy(
            "shop",
            "v1",
            services: [
                web(image: "a"), ServiceSpec(name: "trainer", instances: 1, spec: ["image": "t"], scheduler: "gpu"),
            ]
        )
        #expect(await local.next()?.pools.map(\.service) == ["web"])
        #expect(await gpu.next()?.pools.map(\.service) == ["trainer"])
    }

    @Test func aPoolWhoseSchedulerIsAbsentWaitsAndSaysSo() async throws {
        let core = await CoreHarness()
        _ = try await core.deploy(
            "shop",
            "v1",
            services: [ServiceSpec(name: "trainer", instances: 1, spec: [:], scheduler: "gpu")]
        )
        var status = try await core.status("shop")
        #expect(status.pools.first?.waiting == "scheduler \"gpu\" is not connected")
        let (_, snapshot, updates) = await core.launcher.subscribeScheduler(name: "gpu")
        #expect(snapshot.count == 1)
        status = try await core.status("shop")
        #expect(status.pools.first?.waiting == nil)
        withExtendedLifetime(updates) {}
    }

    @Test func withoutADefaultTheOnlySchedulerRunsUnnamedServices() async throws {
        let core = await CoreHarness()
        _ = try await core.deploy("shop", "v1", services: [web(image: "a")])
        #expect(try await core.status("shop").pools.first?.waiting == "no scheduler is connected")
        // The update streams are kept: a stream let go ends its subscription.
        let (id, snapshot, onlyUpdates) = await core.launcher.subscribeScheduler(name: "only")
        #expect(snapshot.count == 1)
        let (_, second, anotherUpdates) = await core.launcher.subscribeScheduler(name: "another")
        #expect(second.isEmpty)
        #expect(try await core.status("shop").pools.first?.waiting?.contains("none is the default") == true)
        await core.launcher.unsubscribeScheduler(id)
        #expect(try await core.status("shop").pools.first?.scheduler == "another")
        withExtendedLifetime((onlyUpdates, anotherUpdates)) {}
    }
}
