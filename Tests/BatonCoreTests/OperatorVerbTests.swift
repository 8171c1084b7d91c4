import BatonCore
import BatonStore
import BatonTestSupport
import Testing

/// `app.scale`, `app.pause`/`app.resume` and `app.remove`: what an operator does between
/// deploys, with nothing in flight cut.
@Suite("Operator verbs", .timeLimit(.minutes(1)))
struct OperatorVerbTests {
    @Test func scalingSetsTheActivePoolsCountAndNamesWhatIsMissing() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let pool = try await core.pool(
            of: try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        )
        try await core.launcher.scale(app: "shop", service: "web", instances: 3, drainTimeout: .seconds(30))
        #expect(try await core.desired(pool) == 3)
        let scaled = await events.next(.poolScaled)
        #expect(scaled?.pool == pool && scaled?.reason?.contains("to 3") == true)

        let service = await #expect(throws: CoreError.self) {
            try await core.launcher.scale(app: "shop", service: "api", instances: 1, drainTimeout: .zero)
        }
        #expect(service?.code == .unknownService)
        let app = await #expect(throws: CoreError.self) {
            try await core.launcher.scale(app: "nowhere", service: "web", instances: 1, drainTimeout: .zero)
        }
        #expect(app?.code == .unknownApp)
    }

    @Test func scalingToZeroDrainsWhatIsInFlightBeforeThePoolStops() async throws {
        let core = await CoreHarness()
        var events = core.events()
        var revocations = core.revocations()
        let pool = try await core.pool(
            of: try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        )
        let held = try await core.broker.acquire(app: "shop", service: "web")

        try await core.launcher.scale(app: "shop", service: "web", instances: 0, drainTimeout: .seconds(30))
        #expect(await revocations.next()?.reason == .draining, "the lease out takes no new requests")
        #expect(try await core.desired(pool) == 1, "the sandbox runs on while its request does")
        #expect(try await core.status("shop").pools.first { $0.id == pool }?.stop == "draining")
        let refused = await #expect(throws: CoreError.self) {
            try await core.broker.acquire(app: "shop", service: "web")
        }
        #expect(refused?.message.contains("scaled to 0") == true)
        try await core.ready("a-late", pool: pool)  // a replacement its scheduler started meanwhile
        await events.next(.sandboxReady) { $0.sandbox == "a-late" }
        await #expect(throws: CoreError.self, "a stopped pool's late sandbox takes no lease") {
            try await core.broker.acquire(app: "shop", service: "web")
        }

        await core.broker.release(held.id)
        let down = await events.next(.poolScaledDown) { $0.pool == pool }
        #expect(down?.reason == "drained")
        #expect(try await core.desired(pool) == 0)
        #expect(try await core.status("shop").activeVersion == "v1", "a stopped service stays the active one")

        try await core.launcher.scale(app: "shop", service: "web", instances: 1, drainTimeout: .zero)
        #expect(try await core.desired(pool) == 1)
        try await core.ready("a2", pool: pool)
        await events.next(.sandboxReady) { $0.sandbox == "a2" }
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "a2")
    }

    @Test func aStreamKeepsAStoppedPoolUntilTheStreamDeadline() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let pool = try await core.pool(
            of: try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        )
        let stream = try await core.broker.acquire(app: "shop", service: "web")
        await core.broker.markStream(stream.id)
        try await core.launcher.scale(app: "shop", service: "web", instances: 0, drainTimeout: .seconds(5))
        await core.clock.waitForSleeper(until: core.clock.now + .seconds(5))
        core.clock.advance(by: .seconds(5))
        await core.clock.waitForSleeper(until: core.clock.now + Launcher.defaultStreamDrain)
        #expect(try await core.desired(pool) == 1, "the stream outlives the drain timeout")
        core.clock.advance(by: Launcher.defaultStreamDrain)
        let down = await events.next(.poolScaledDown) { $0.pool == pool }
        #expect(down?.reason == "stream drain deadline")
    }

    @Test func aDeployDuringAStopTakesItsDrainOver() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let oldPool = try await core.pool(
            of: try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        )
        let held = try await core.broker.acquire(app: "shop", service: "web")
        try await core.launcher.scale(app: "shop", service: "web", instances: 0, drainTimeout: .seconds(30))
        let second = try await core.live(
            "v2",
            [web(image: "b")],
            sandboxes: ["b"],
            events: &events,
            waitingFor: .deployCutover
        )
        #expect(try await core.desired(oldPool) == 1, "the request on v1 still runs")
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "b")
        await core.broker.release(held.id)
        await events.next(.deployDone) { $0.deployment == second }
        #expect(try await core.desired(oldPool) == 0)
    }

    @Test func aDeployOfAnUnchangedServiceRaisesItsStoppedPool() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let pool = try await core.pool(
            of: try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        )
        try await core.launcher.scale(app: "shop", service: "web", instances: 0, drainTimeout: .zero)
        await events.next(.poolScaledDown) { $0.pool == pool }
        _ = try await core.deploy("shop", "v2", services: [web(image: "a"), worker(image: "w")])
        #expect(try await core.desired(pool) == 1, "the deploy says how many sandboxes the service runs")
        #expect(try await core.status("shop").pools.first { $0.id == pool }?.stop == nil)
    }

    @Test func aPausedAppHoldsRequestsUntilItResumes() async throws {
        let core = await CoreHarness()
        var events = core.events()
        var revocations = core.revocations()
        _ = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let running = try await core.broker.acquire(app: "shop", service: "web")

        try await core.launcher.pause(app: "shop")
        #expect(await revocations.next()?.reason == .paused)
        #expect(try await core.status("shop").phase == .paused)
        let held = try await core.broker.requestLease(app: "shop", service: "web", wait: .seconds(30))
        guard case .queued(let wait) = held else {
            Issue.record("a paused app handed out a lease")
            return
        }
        let refused = await #expect(throws: CoreError.self) {
            try await core.broker.acquire(app: "shop", service: "web")
        }
        #expect(refused?.message.contains("paused") == true)
        #expect(
            await core.broker.revokedOrGone(among: [running.id]) == [running.id],
            "the running request finishes on a revoked lease"
        )

        try await core.launcher.resume(app: "shop")
        #expect(try await wait.lease().sandbox == "a", "the held request goes first")
        #expect(await events.next(.appResumed) != nil)
    }

    @Test func removingDrainsThenForgetsTheAppAndItsRoutes() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let pool = try await core.pool(
            of: try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        )
        try await core.launcher.setRoute(RouteSpec(host: "shop.test", app: "shop"))
        let held = try await core.broker.acquire(app: "shop", service: "web")
        let waiting = try await core.deploy("shop", "v2", services: [web(image: "b")])

        try await core.launcher.remove(app: "shop", drainTimeout: .seconds(30))
        let failed = await events.next(.deployFailed) { $0.deployment == waiting }
        #expect(failed?.reason?.contains("removed") == true)
        #expect(try await core.status("shop").phase == .removing)
        let refused = await #expect(throws: CoreError.self) {
            try await core.deploy("shop", "v3", services: [web(image: "c")])
        }
        #expect(refused?.code == .appBeingRemoved)
        #expect(try await core.desired(pool) == 1, "the request in flight finishes first")

        await core.broker.release(held.id)
        await events.next(.appRemoved)
        let gone = await #expect(throws: CoreError.self) { try await core.status("shop") }
        #expect(gone?.code == .unknownApp)
        #expect(await core.launcher.routeTable().isEmpty)
        _ = try await core.live("v1", [web(image: "a")], sandboxes: ["a-again"], events: &events)
        #expect(try await core.status("shop").deployments.count == 1, "deployed again, it starts afresh")
    }

    @Test func aRestartKeepsAPauseAndFinishesAStop() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let core = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        var events = core.events()
        let pool = try await core.pool(
            of: try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        )
        _ = try await core.broker.acquire(app: "shop", service: "web")
        try await core.launcher.scale(app: "shop", service: "web", instances: 0, drainTimeout: .seconds(30))
        try await core.launcher.pause(app: "shop")
        try await core.launcher.durable()
        await core.launcher.stop()

        let restarted = try await CoreHarness(restoringFrom: SQLiteStore(directory: directory.path))
        let status = try await restarted.status("shop")
        #expect(status.phase == .paused)
        let stopped = status.pools.first { $0.id == pool }
        #expect(stopped?.desired == 0 && stopped?.stop == "stopped", "a restart finishes the stop")
        try await restarted.launcher.scale(app: "shop", service: "web", instances: 1, drainTimeout: .zero)
        try await restarted.launcher.resume(app: "shop")
        try await restarted.ready("a2", pool: pool)
        #expect(try await restarted.broker.acquire(app: "shop", service: "web", wait: .seconds(5)).sandbox == "a2")
    }
}
