import BatonCore
import BatonJSON
import Testing

/// The launcher's promises, one test each, in process on a manual clock.
@Suite("Launcher", .timeLimit(.minutes(1)))
struct LauncherTests {
    @Test func theFirstDeployCreatesTheAppAndCutsOverWhenReady() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let deployment = try await core.deploy("shop", "v1", services: [web(image: "a")])
        let pool = try await core.pool(of: deployment)
        #expect(try await core.desired(pool) == 1)
        try await core.ready("s1", pool: pool)
        await events.next(.deployCutover)
        await events.next(.deployDone)
        #expect(try await core.status("shop").activeVersion == "v1")
        let lease = try await core.broker.acquire(app: "shop", service: "web")
        #expect(lease.version == "v1")
        #expect(lease.sandbox == "s1")
    }

    @Test func anOldPoolIsNeverScaledDownBeforeTheNewOneHasItsQuorum() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.deploy("shop", "v1", services: [web(2, image: "a")])
        let oldPool = try await core.pool(of: first)
        try await core.ready("a1", pool: oldPool)
        try await core.ready("a2", pool: oldPool)
        await events.next(.deployDone)

        let second = try await core.deploy("shop", "v2", services: [web(2, image: "b")])
        let newPool = try await core.pool(of: second)
        try await core.ready("b1", pool: newPool)
        await events.next(.sandboxReady) { $0.sandbox == "b1" }
        #expect(try await core.desired(oldPool) == 2, "one of two is not a quorum")
        #expect(try await core.status("shop").activeVersion == "v1")
        #expect(try await core.broker.acquire(app: "shop", service: "web").version == "v1")

        try await core.ready("b2", pool: newPool)
        let cutover = await events.next(.deployCutover)
        #expect(cutover?.version == "v2")
        #expect(try await core.broker.acquire(app: "shop", service: "web").version == "v2")
    }

    @Test func minReadyLowersTheQuorum() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let deployment = try await core.deploy("shop", "v1", services: [web(3, image: "a", minReady: 1)])
        try await core.ready("s1", pool: try await core.pool(of: deployment))
        await events.next(.deployCutover)
        #expect(try await core.status("shop").activeVersion == "v1")
    }

    @Test func cutoverIsPushedByTheReportWithoutTimePassing() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let deployment = try await core.deploy("shop", "v1", services: [web(image: "a")])
        let before = core.clock.now
        try await core.ready("s1", pool: try await core.pool(of: deployment))
        let cutover = await events.next(.deployCutover)
        #expect(cutover?.time == before, "no tick or poll stood between the report and the cutover")
    }

    @Test func allServicesCutOverTogetherAndOldLeasesAreRevoked() async throws {
        let core = await CoreHarness()
        var events = core.events()
        var revocations = core.revocations()
        _ = try await core.live("v1", [web(image: "a"), worker(image: "w1")], sandboxes: ["a", "w"], events: &events)
        let oldLease = try await core.broker.acquire(app: "shop", service: "web")

        let second = try await core.deploy("shop", "v2", services: [web(image: "b"), worker(image: "w2")])
        try await core.ready("b", pool: try await core.pool(of: second, "web"))
        await events.next(.sandboxReady) { $0.sandbox == "b" }
        #expect(
            try await core.broker.acquire(app: "shop", service: "web").version == "v1",
            "web alone is not the version"
        )

        try await core.ready("w-2", pool: try await core.pool(of: second, "worker"))
        await events.next(.deployCutover)
        #expect(try await core.broker.acquire(app: "shop", service: "web").version == "v2")
        #expect(try await core.broker.acquire(app: "shop", service: "worker").version == "v2")
        let revoked = await revocations.next()
        #expect(revoked?.leases.contains(oldLease.id) == true)
        #expect(revoked?.reason == .cutover)
        await #expect(throws: CoreError.self) { try await core.broker.renew(oldLease.id) }
    }

    @Test func anUnchangedServiceKeepsItsPoolAndIsNotWaitedOn() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live(
            "v1",
            [web(image: "a"), worker(image: "same")],
            sandboxes: ["a", "w"],
            events: &events
        )
        let workerPool = try await core.pool(of: first, "worker")

        let second = try await core.deploy("shop", "v2", services: [web(image: "b"), worker(image: "same")])
        let status = try await core.status("shop")
        #expect(status.pools.filter { $0.service == "worker" }.count == 1, "no second worker pool")
        try await core.ready("b", pool: try await core.pool(of: second, "web"))
        await events.next(.deployCutover)
        await events.next(.deployDone)
        #expect(try await core.desired(workerPool) == 1)
        let workerLease = try await core.broker.acquire(app: "shop", service: "worker")
        #expect(workerLease.sandbox == "w", "the worker sandbox was not replaced")
        #expect(!events.seen.contains { $0.type == .sandboxDraining && $0.sandbox == "w" })
    }

    /// Requests in flight hold their lease's slots (the ingress's cache keeps a revoked lease
    /// alive until its last request ends), so waiting for leases is waiting for requests.
    @Test func drainWaitsForTheLastLeaseThenScalesDown() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let oldPool = try await core.pool(of: first)
        let held = try await core.broker.acquire(app: "shop", service: "web")
        let second = try await core.broker.acquire(app: "shop", service: "web")

        let next = try await core.deploy("shop", "v2", services: [web(image: "b")])
        try await core.ready("b", pool: try await core.pool(of: next))
        await events.next(.sandboxDraining) { $0.sandbox == "a" }
        #expect(try await core.desired(oldPool) == 1, "two leases are still out")
        #expect(try await core.status("shop").sandboxes.first { $0.id == "a" }?.state == .draining)

        await core.broker.release(held.id)
        #expect(try await core.desired(oldPool) == 1, "a lease is still out")
        await core.broker.release(second.id)
        let scaled = await events.next(.poolScaledDown)
        #expect(scaled?.pool == oldPool)
        #expect(scaled?.reason == "drained")
        await events.next(.deployDone)
    }

    @Test func drainEndsAtTheDrainTimeout() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let oldPool = try await core.pool(of: first)
        _ = try await core.broker.acquire(app: "shop", service: "web")

        let second = try await core.deploy(
            "shop",
            "v2",
            services: [web(image: "b")],
            drainTimeout: .milliseconds(5_000)
        )
        try await core.ready("b", pool: try await core.pool(of: second))
        await events.next(.sandboxDraining)
        core.clock.advance(by: .milliseconds(5_000))
        let scaled = await events.next(.poolScaledDown)
        #expect(scaled?.reason?.contains("drain timeout") == true)
        #expect(try await core.desired(oldPool) == 0)
    }

    @Test func aVersionThatNeverGetsReadyIsRolledBackAndTheOldOneKeepsServing() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let oldPool = try await core.pool(of: first)

        let second = try await core.deploy("shop", "v2", services: [web(2, image: "b")])
        let newPool = try await core.pool(of: second)
        try await core.ready("b1", pool: newPool)
        try await core.broker.report(
            SandboxReport(sandbox: "b2", pool: newPool, state: .failed, reason: "exit 3"),
            from: "fake"
        )
        await events.next(.sandboxReady) { $0.sandbox == "b1" }
        core.clock.advance(by: .milliseconds(60_000))
        let failed = await events.next(.deployFailed)
        #expect(failed?.reason?.contains("web 1 of 2 ready") == true)
        #expect(failed?.reason?.contains("b2") == true)
        #expect(failed?.reason?.contains("exit 3") == true)
        #expect(try await core.desired(newPool) == 0)
        #expect(try await core.desired(oldPool) == 1)
        let status = try await core.status("shop")
        #expect(status.activeVersion == "v1")
        #expect(status.deployments.last?.state == .failed)
        #expect(try await core.broker.acquire(app: "shop", service: "web").version == "v1")
    }

    @Test func proceedCutsOverWithSomeReadyAndRollsBackWithNone() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.deploy("shop", "v1", services: [web(2, image: "a")], onTimeout: .proceed)
        try await core.ready("a1", pool: try await core.pool(of: first))
        await events.next(.sandboxReady)
        core.clock.advance(by: .milliseconds(60_000))
        let cutover = await events.next(.deployCutover)
        #expect(cutover?.reason?.contains("proceeded") == true)

        _ = try await core.deploy("shop", "v2", services: [web(2, image: "b")], onTimeout: .proceed)
        core.clock.advance(by: .milliseconds(60_000))
        await events.next(.deployFailed)
        #expect(try await core.status("shop").activeVersion == "v1")
    }

    @Test func aNewerDeploySupersedesOneThatIsWaiting() async throws {
        let core = await CoreHarness()
        var events = core.events()
        _ = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let second = try await core.deploy("shop", "v2", services: [web(image: "b")])
        let secondPool = try await core.pool(of: second)
        let third = try await core.deploy("shop", "v3", services: [web(image: "c")])
        let superseded = await events.next(.deploySuperseded)
        #expect(superseded?.deployment == second)
        #expect(try await core.desired(secondPool) == 0)
        try await core.ready("c", pool: try await core.pool(of: third))
        await events.next(.deployCutover) { $0.deployment == third }
        let status = try await core.status("shop")
        #expect(status.deployments.first { $0.id == second }?.state == .superseded)
        #expect(status.activeVersion == "v3")
    }

    @Test func tenDeploysInARowLeaveOnePoolPerServiceAndNoOtherSandboxRunning() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let scheduler = FollowingScheduler(core: core)
        await scheduler.start()
        var last: DeploymentID = ""
        for version in 1...10 {
            last = try await core.deploy(
                "shop",
                "v\(version)",
                services: [web(image: "image-\(version)"), worker(image: "w\(version % 3)")]
            )
        }
        await events.next(.deployDone) { $0.deployment == last }
        await scheduler.reconcile()
        let status = try await core.status("shop")
        #expect(status.activeVersion == "v10")
        var active: Set<PoolID> = []
        for service in ["web", "worker"] {
            let running = status.pools.filter { $0.service == service && $0.desired > 0 }
            #expect(running.count == 1, "service \(service)")
            active.formUnion(running.map(\.id))
        }
        #expect(Set(await scheduler.runningSandboxes.keys) == active)
        let live = status.sandboxes.filter { $0.state != .stopped && $0.state != .failed }
        #expect(Set(live.map(\.pool)) == active)
    }

    @Test func aSlowAppNeverHoldsUpAnotherAppsDeploy() async throws {
        let core = await CoreHarness()
        var events = core.events()
        _ = try await core.deploy("slow", "v1", services: [web(image: "s")])
        let fast = try await core.deploy("shop", "v1", services: [web(image: "f")])
        try await core.ready("f", pool: try await core.pool(of: fast))
        let cutover = await events.next(.deployCutover)
        #expect(cutover?.app == "shop")
        #expect(try await core.status("slow").deployments.first?.state == .waiting)
    }

    @Test func theDeathOfAReadySandboxRevokesItsLeasesAndKeepsTheDesiredCount() async throws {
        let core = await CoreHarness()
        var events = core.events()
        var revocations = core.revocations()
        let deployment = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let pool = try await core.pool(of: deployment)
        let lease = try await core.broker.acquire(app: "shop", service: "web")
        try await core.broker.report(
            SandboxReport(sandbox: "a", pool: pool, state: .failed, reason: "killed"),
            from: "fake"
        )
        let revoked = await revocations.next()
        #expect(revoked?.leases == [lease.id])
        #expect(revoked?.reason == .stopped)
        #expect(try await core.desired(pool) == 1)
        await #expect(throws: CoreError.self) { try await core.broker.acquire(app: "shop", service: "web") }
    }

    @Test func badDeploysAreRefusedAndNothingIsApplied() async throws {
        let core = await CoreHarness()
        let cases: [DeployRequest] = [
            DeployRequest(app: "shop", version: "", services: [web(image: "a")]),
            DeployRequest(app: "shop", version: "v1", services: []),
            DeployRequest(app: "shop", version: "v1", services: [ServiceSpec(name: "", instances: 1, spec: [:])]),
            DeployRequest(app: "shop", version: "v1", services: [web(image: "a"), web(image: "b")]),
            DeployRequest(app: "shop", version: "v1", services: [web(2, image: "a", minReady: 3)]),
        ]
        for request in cases {
            await #expect(throws: CoreError.self) { try await core.launcher.deploy(request) }
        }
        await #expect(throws: CoreError.self) { try await core.status("shop") }

        _ = try await core.deploy("shop", "v1", services: [web(image: "a")])
        do {
            _ = try await core.deploy("shop", "v1", services: [web(image: "different")])
            Issue.record("a reused version name with another spec was accepted")
        } catch let error as CoreError {
            #expect(error.code == .versionConflict)
        }
        #expect(try await core.status("shop").deployments.count == 1)
        do {
            _ = try await core.broker.acquire(app: "nowhere", service: "web")
            Issue.record("a lease for an unknown app was granted")
        } catch {
            #expect(error.code == .unknownApp)
        }
    }

    @Test func changingOnlyTheInstanceCountKeepsThePoolAndChangesItsDesiredCount() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live("v1", [web(1, image: "a")], sandboxes: ["a1"], events: &events)
        let pool = try await core.pool(of: first)
        let second = try await core.deploy("shop", "v2", services: [web(3, image: "a")])
        #expect(try await core.pool(of: second) == pool)
        #expect(try await core.desired(pool) == 3)
        #expect(try await core.status("shop").pools.count == 1)
    }

    @Test func aServiceLeftOutOfTheNewVersionIsDrainedAndScaledDown() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live(
            "v1",
            [web(image: "a"), worker(image: "w")],
            sandboxes: ["a", "w"],
            events: &events
        )
        let workerPool = try await core.pool(of: first, "worker")
        let second = try await core.deploy("shop", "v2", services: [web(image: "b")])
        try await core.ready("b", pool: try await core.pool(of: second, "web"))
        let scaled = await events.next(.poolScaledDown) { $0.pool == workerPool }
        #expect(scaled?.reason == "drained")
        await #expect(throws: CoreError.self) { try await core.broker.acquire(app: "shop", service: "worker") }
    }

    @Test func aSandboxCarryingAStreamOutlivesTheRequestDrainTimeoutUntilTheStreamEnds() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let oldPool = try await core.pool(of: first)
        let stream = try await core.broker.acquire(app: "shop", service: "web")
        await core.broker.markStream(stream.id)
        let second = try await core.deploy(
            "shop",
            "v2",
            services: [web(image: "b")],
            drainTimeout: .milliseconds(5_000)
        )
        try await core.ready("b", pool: try await core.pool(of: second))
        await events.next(.sandboxDraining)
        core.clock.advance(by: .milliseconds(5_000))
        await core.clock.waitForSleeper(until: core.clock.now + Launcher.defaultStreamDrain)
        #expect(try await core.desired(oldPool) == 1, "the stream keeps its sandbox past the request drain timeout")
        await core.broker.release(stream.id)
        let scaled = await events.next(.poolScaledDown) { $0.pool == oldPool }
        #expect(scaled?.reason == "drained")
    }
}
