import BatonCore
import BatonStore
import BatonTestSupport
import Testing

/// A launcher restarted on its store: apps, routes and active versions come back, deploys in
/// flight resume or end, and nothing is started again.
@Suite("Launcher restore", .timeLimit(.minutes(1)))
struct LauncherRestoreTests {
    @Test func appsRoutesAndActiveVersionsComeBackAndServeOnceSandboxesReport() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let before = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        var events = before.events()
        let first = try await before.live("v1", [web(2, image: "a", minReady: 1)], sandboxes: ["a"], events: &events)
        let pool = try await before.pool(of: first)
        try await before.launcher.setRoute(RouteSpec(host: "Shop.Example", app: "shop"))
        try await before.launcher.durable()
        await before.launcher.stop()

        let after = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        var afterEvents = after.events()
        let status = try await after.status("shop")
        #expect(status.activeVersion == "v1")
        #expect(status.deployments.map(\.id) == [first])
        #expect(status.pools.map(\.id) == [pool])
        #expect(
            try await after.desired(pool) == 2,
            "the scheduler is asked for what it already runs: nothing starts again"
        )
        #expect(await after.launcher.routeTable().map(\.host) == ["shop.example"])

        // Leases are not kept: they come from the sandboxes the scheduler reports.
        try await after.ready("a", pool: pool)
        await afterEvents.next(.sandboxReady)
        let lease = try await after.broker.acquire(app: "shop", service: "web")
        #expect(lease.sandbox == "a" && lease.version == "v1")

        // New ids carry on from the old ones.
        let next = try await after.deploy("shop", "v2", services: [web(image: "b")])
        #expect(next != first)
    }

    @Test func aDeployWaitingForReadinessResumesItsWaitAndCutsOver() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let before = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        var events = before.events()
        _ = try await before.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let second = try await before.deploy("shop", "v2", services: [web(image: "b")])
        let newPool = try await before.pool(of: second)
        try await before.launcher.durable()
        await before.launcher.stop()

        let after = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        var resumed = after.events()
        #expect(try await after.status("shop").deployments.last?.state == .waiting)
        #expect(try await after.desired(newPool) == 1)
        try await after.ready("b", pool: newPool)
        let cutover = await resumed.next(.deployCutover)
        #expect(cutover?.deployment == second)
        #expect(try await after.broker.acquire(app: "shop", service: "web").version == "v2")
    }

    @Test func aDeployWaitingAcrossARestartStillTimesOutAndRollsBack() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let before = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        var events = before.events()
        _ = try await before.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let second = try await before.deploy(
            "shop",
            "v2",
            services: [web(image: "b")],
            readyTimeout: .milliseconds(10_000)
        )
        let newPool = try await before.pool(of: second)
        try await before.launcher.durable()
        await before.launcher.stop()

        let after = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        var resumed = after.events()
        await after.clock.waitForSleeper(until: after.clock.now + .milliseconds(10_000))
        after.clock.advance(by: .milliseconds(10_000))
        let failed = await resumed.next(.deployFailed)
        #expect(failed?.deployment == second)
        #expect(try await after.desired(newPool) == 0)
        #expect(try await after.status("shop").activeVersion == "v1", "the old version keeps serving")
    }

    @Test func aDeployDrainingAtTheRestartEndsAndItsOldPoolIsScaledDown() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let before = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        var events = before.events()
        let first = try await before.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let oldPool = try await before.pool(of: first)
        _ = try await before.broker.acquire(app: "shop", service: "web")  // holds the drain open
        let second = try await before.deploy("shop", "v2", services: [web(image: "b")])
        try await before.ready("b", pool: try await before.pool(of: second))
        await events.next(.sandboxDraining)
        try await before.launcher.durable()
        await before.launcher.stop()

        let after = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        let status = try await after.status("shop")
        #expect(status.activeVersion == "v2")
        #expect(status.deployments.last?.state == .done)
        #expect(status.deployments.last?.reason?.contains("restarted") == true)
        #expect(try await after.desired(oldPool) == 0, "the leases it drained for died with the old host")
    }
}
