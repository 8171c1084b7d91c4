import BatonCore
import Testing

/// Deploying an older spec again while its pool still drains (the natural manual rollback)
/// never leaves the app with nothing running.
@Suite("Rollback during a drain", .timeLimit(.minutes(1)))
struct RollbackDuringDrainTests {
    @Test func aRollbackToADrainingPoolReturnsItsSandboxesToService() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let oldPool = try await core.pool(of: first)
        let held = try await core.broker.acquire(app: "shop", service: "web")
        let second = try await core.live(
            "v2",
            [web(image: "b")],
            sandboxes: ["b"],
            events: &events,
            waitingFor: .deployCutover
        )
        await events.next(.sandboxDraining) { $0.sandbox == "a" }

        let back = try await core.deploy("shop", "v1", services: [web(image: "a")])
        await events.next(.deployCutover) { $0.deployment == back }
        #expect(try await core.status("shop").activeVersion == "v1")
        let lease = try await core.broker.acquire(app: "shop", service: "web")
        #expect(lease.sandbox == "a", "the draining sandbox is back in service")

        let newPool = try await core.pool(of: second)
        await core.broker.release(held.id)  // the lease the older drain waited for
        await events.next(.poolScaledDown) { $0.pool == newPool }
        #expect(try await core.desired(oldPool) == 1, "the active pool was scaled down")
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "a")
    }

    @Test func aRollbackToAPoolWhoseSandboxDiedWaitsForAFreshOne() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let oldPool = try await core.pool(of: first)
        let held = try await core.broker.acquire(app: "shop", service: "web")
        _ = try await core.live("v2", [web(image: "b")], sandboxes: ["b"], events: &events, waitingFor: .deployCutover)
        try await core.broker.report(
            SandboxReport(sandbox: "a", pool: oldPool, state: .failed, reason: "killed"),
            from: "fake"
        )
        await events.next(.sandboxFailed) { $0.sandbox == "a" }

        let back = try await core.deploy("shop", "v1", services: [web(image: "a")])
        #expect(try await core.status("shop").activeVersion == "v2", "nothing of v1 is alive to cut over to")
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "b")
        #expect(try await core.desired(oldPool) == 1)
        try await core.ready("a2", pool: oldPool)
        await events.next(.deployCutover) { $0.deployment == back }
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "a2")
        await core.broker.release(held.id)
        #expect(try await core.desired(oldPool) == 1)
    }

    @Test func aRollbackToAPoolAlreadyScaledDownRaisesItAgain() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let oldPool = try await core.pool(of: first)
        _ = try await core.live("v2", [web(image: "b")], sandboxes: ["b"], events: &events)
        #expect(try await core.desired(oldPool) == 0)
        try await core.broker.report(SandboxReport(sandbox: "a", pool: oldPool, state: .stopped), from: "fake")

        let back = try await core.deploy("shop", "v1", services: [web(image: "a")])
        #expect(try await core.desired(oldPool) == 1)
        #expect(try await core.status("shop").activeVersion == "v2")
        try await core.ready("a2", pool: oldPool)
        await events.next(.deployDone) { $0.deployment == back }
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "a2")
    }

    @Test func historyIsForgottenPastTheLastFewDeploysOfAnApp() async throws {
        let core = await CoreHarness()
        var events = core.events()
        for index in 1...30 {
            _ = try await core.live(
                "v\(index)",
                [web(image: "image-\(index)")],
                sandboxes: [SandboxID("s\(index)")],
                events: &events
            )
            let status = try await core.status("shop")
            for pool in status.pools where pool.desired == 0 {
                for sandbox in status.sandboxes where sandbox.pool == pool.id && sandbox.state == .draining {
                    try await core.broker.report(
                        SandboxReport(sandbox: sandbox.id, pool: pool.id, state: .stopped),
                        from: "fake"
                    )
                }
            }
        }
        let status = try await core.status("shop")
        #expect(status.activeVersion == "v30")
        #expect(status.deployments.count <= 9, "\(status.deployments.count) deployments kept")
        #expect(status.pools.count <= 9, "\(status.pools.count) pools kept")
        #expect(status.sandboxes.count <= 9 * 8)
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "s30")
    }
}
