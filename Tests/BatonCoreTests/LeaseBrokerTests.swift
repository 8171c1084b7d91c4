import BatonCore
import BatonJSON
import Testing

/// Leases: exact slots, least-loaded choice, waiting, expiry, invalidation.
@Suite("Lease broker", .timeLimit(.minutes(1)))
struct LeaseBrokerTests {
    /// An app "shop" at v1 with `sandboxes` ready web sandboxes of `slots` slots each.
    private func serving(sandboxes: [SandboxID], slots: Int) async throws -> (CoreHarness, PoolID) {
        let core = await CoreHarness()
        var events = core.events()
        let deployment = try await core.deploy("shop", "v1", services: [web(sandboxes.count, image: "a", slots: slots)])
        let pool = try await core.pool(of: deployment)
        for sandbox in sandboxes { try await core.ready(sandbox, pool: pool) }
        await events.next(.deployDone)
        return (core, pool)
    }

    @Test func aSandboxNeverHasMoreSlotsOutThanItsCapacity() async throws {
        let (core, _) = try await serving(sandboxes: ["a"], slots: 3)
        let first = try await core.broker.acquire(app: "shop", service: "web", slots: 2)
        #expect(first.slots == 2)
        await #expect(throws: CoreError.self) { try await core.broker.acquire(app: "shop", service: "web", slots: 2) }
        _ = try await core.broker.acquire(app: "shop", service: "web", slots: 1)
        await #expect(throws: CoreError.self) { try await core.broker.acquire(app: "shop", service: "web") }
        await core.broker.release(first.id)
        await core.broker.release(first.id)  // twice is fine
        _ = try await core.broker.acquire(app: "shop", service: "web", slots: 2)
        let status = try await core.status("shop")
        #expect(status.sandboxes.first?.slotsOut == 3)
    }

    @Test func aLeaseWithAMinimumTakesWhatIsFreeUpToItsSize() async throws {
        let (core, _) = try await serving(sandboxes: ["a"], slots: 3)
        let first = try await core.broker.acquire(app: "shop", service: "web", slots: 16, minimumSlots: 1)
        #expect(first.slots == 3, "the sandbox has 3 free slots, not 16")
        await #expect(throws: CoreError.self) {
            try await core.broker.acquire(app: "shop", service: "web", slots: 16, minimumSlots: 1)
        }
        await core.broker.release(first.id)
        _ = try await core.broker.acquire(app: "shop", service: "web", slots: 2)
        #expect(try await core.broker.acquire(app: "shop", service: "web", slots: 16, minimumSlots: 1).slots == 1)
    }

    @Test func leasesGoToTheLeastLoadedSandbox() async throws {
        let (core, _) = try await serving(sandboxes: ["a", "b"], slots: 10)
        let first = try await core.broker.acquire(app: "shop", service: "web", slots: 3)
        let second = try await core.broker.acquire(app: "shop", service: "web", slots: 1)
        #expect(first.sandbox != second.sandbox)
        let third = try await core.broker.acquire(app: "shop", service: "web", slots: 1)
        #expect(third.sandbox == second.sandbox, "1 slot out is less than 3")
    }

    /// A node cut off from its cluster gives up its leases on other nodes' sandboxes and
    /// leases its own first: the others may stop theirs without waiting for it. Back in the
    /// cluster, load decides again.
    @Test func aNodeThatPrefersItsOwnSandboxesLeasesThemFirst() async throws {
        let (core, pool) = try await serving(sandboxes: ["z-own"], slots: 10)
        let remote = SandboxReport(sandbox: "a-remote", pool: pool, state: .ready, url: "http://127.0.0.1:9/a-remote")
        var admitted = core.events()
        try await core.broker.report(remote, from: SandboxReporter.node("n2"))
        _ = await admitted.next(.sandboxReady) { $0.sandbox == "a-remote" }
        let loaded = try await core.broker.acquire(app: "shop", service: "web", slots: 2)
        #expect(loaded.sandbox == "a-remote", "both idle: the lower id")
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "z-own", "the least loaded")

        var revocations = core.revocations()
        await core.broker.prefer(.ownFirst)
        let revoked = await revocations.next()
        #expect(revoked?.leases == [loaded.id], "its lease on the other node's sandbox is given up")
        #expect(revoked?.reason == .draining)
        for _ in 0..<3 {
            #expect(
                try await core.broker.acquire(app: "shop", service: "web").sandbox == "z-own",
                "its own, though busier"
            )
        }
        await core.broker.prefer(.leastLoaded)
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "a-remote")
    }

    @Test func aRetryNeverGetsASandboxItExcludedAndWaitsForAnother() async throws {
        let (core, pool) = try await serving(sandboxes: ["a", "b"], slots: 10)
        _ = try await core.broker.acquire(app: "shop", service: "web", slots: 5, excluding: ["a"])
        let retried = try await core.broker.acquire(app: "shop", service: "web", excluding: ["a"])
        #expect(retried.sandbox == "b", "b is busier than a, but a failed this request")
        let broker = core.broker
        let waiting = Task {
            try await broker.acquire(app: "shop", service: "web", wait: .milliseconds(30_000), excluding: ["a", "b"])
        }
        try await core.ready("c", pool: pool)
        #expect(try await waiting.value.sandbox == "c")
    }

    @Test func aWaitingAcquireIsAnsweredTheMomentASandboxIsReady() async throws {
        let core = await CoreHarness()
        let deployment = try await core.deploy("shop", "v1", services: [web(image: "a")])
        let pool = try await core.pool(of: deployment)
        let broker = core.broker
        let waiting = Task { try await broker.acquire(app: "shop", service: "web", wait: .milliseconds(30_000)) }
        try await core.ready("late", pool: pool)
        let lease = try await waiting.value
        #expect(lease.sandbox == "late")
    }

    @Test func aWaitThatRunsOutIsARetryableError() async throws {
        let core = await CoreHarness()
        _ = try await core.deploy("shop", "v1", services: [web(image: "a")])
        let broker = core.broker
        let deadline = core.clock.now + .milliseconds(2_000)
        let waiting = Task { () -> CoreError? in
            do throws(CoreError) {
                _ = try await broker.acquire(app: "shop", service: "web", wait: .milliseconds(2_000))
                return nil
            } catch {
                return error
            }
        }
        await core.clock.waitForSleeper(until: deadline)
        core.clock.advance(by: .milliseconds(2_000))
        let refusal = try #require(await waiting.value)
        #expect(refusal.code == .noSandbox)
        #expect(refusal.retryAfter != nil)
    }

    @Test func anUnrenewedLeaseExpiresAndItsSlotsComeBack() async throws {
        let (core, _) = try await serving(sandboxes: ["a"], slots: 1)
        var revocations = core.revocations()
        let lease = try await core.broker.acquire(app: "shop", service: "web")
        core.clock.advance(by: .milliseconds(20_000))
        _ = try await core.broker.renew(lease.id)
        core.clock.advance(by: .milliseconds(20_000))
        #expect(try await core.status("shop").sandboxes.first?.slotsOut == 1, "renewed 20 s ago, TTL 30 s")
        core.clock.advance(by: .milliseconds(10_000))
        let expired = await revocations.next()
        #expect(expired?.reason == .expired)
        #expect(expired?.leases == [lease.id])
        await #expect(throws: CoreError.self) { try await core.broker.renew(lease.id) }
        _ = try await core.broker.acquire(app: "shop", service: "web")
    }

    @Test func anInvalidatedSandboxIsSuspectUntilItPassesTheCheckAgain() async throws {
        let (core, _) = try await serving(sandboxes: ["a", "b"], slots: 10)
        var revocations = core.revocations()
        var events = core.events()
        let onA = try await core.broker.acquire(app: "shop", service: "web")
        let other = try await core.broker.acquire(app: "shop", service: "web")
        #expect(onA.sandbox != other.sandbox)
        let suspectURL = onA.url
        core.probe.setFailing(suspectURL, true)
        await core.broker.invalidate(onA.id, reason: "connect refused")
        let revoked = await revocations.next()
        #expect(revoked?.reason == .suspect)
        #expect(revoked?.sandbox == onA.sandbox)
        for _ in 0..<5 {
            #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == other.sandbox)
        }
        #expect(try await core.broker.renew(other.id).id == other.id, "leases elsewhere are untouched")
        core.probe.setFailing(suspectURL, false)
        core.clock.advance(by: .milliseconds(100))
        await events.next(.sandboxReady) { $0.sandbox == onA.sandbox }
        let status = try await core.status("shop")
        #expect(status.sandboxes.first { $0.id == onA.sandbox }?.suspect == false)
    }

    @Test func aSandboxThatFailsTheHostsCheckGetsNoLease() async throws {
        let core = await CoreHarness()
        let deployment = try await core.deploy("shop", "v1", services: [web(image: "a")])
        let pool = try await core.pool(of: deployment)
        core.probe.setFailing("http://127.0.0.1:9/liar", true)
        try await core.ready("liar", pool: pool)
        let status = try await core.status("shop")
        #expect(status.sandboxes.first?.admitted == false)
        #expect(status.activeVersion == nil)
        await #expect(throws: CoreError.self) { try await core.broker.acquire(app: "shop", service: "web") }
    }

    @Test func reportsAreIdempotentAndUnknownPoolsAreRefused() async throws {
        let (core, pool) = try await serving(sandboxes: ["a"], slots: 4)
        let lease = try await core.broker.acquire(app: "shop", service: "web")
        for _ in 0..<3 {
            try await core.broker.report(
                SandboxReport(sandbox: "a", pool: pool, state: .ready, url: "http://127.0.0.1:9/a"),
                from: "fake"
            )
        }
        #expect(try await core.broker.renew(lease.id).id == lease.id, "repeating ready changed nothing")
        await #expect(throws: CoreError.self) {
            try await core.broker.report(SandboxReport(sandbox: "x", pool: "p-404", state: .starting), from: "fake")
        }
    }

    @Test func syncStopsWhatTheSchedulerNoLongerHas() async throws {
        let (core, pool) = try await serving(sandboxes: ["a", "b"], slots: 4)
        try await core.broker.sync(
            [SandboxReport(sandbox: "b", pool: pool, state: .ready, url: "http://127.0.0.1:9/b")],
            from: "fake"
        )
        let states = Dictionary(uniqueKeysWithValues: try await core.status("shop").sandboxes.map { ($0.id, $0.state) })
        #expect(states["a"] == .stopped)
        #expect(states["b"] == .ready)
    }

    @Test func aSyncWithOneRefusedEntryAppliesNothing() async throws {
        let (core, pool) = try await serving(sandboxes: ["a", "b"], slots: 4)
        await #expect(throws: CoreError.self) {
            try await core.broker.sync(
                [
                    SandboxReport(sandbox: "c", pool: pool, state: .ready, url: "http://127.0.0.1:9/c"),
                    SandboxReport(sandbox: "d", pool: "p-404", state: .starting),
                ],
                from: "fake"
            )
        }
        let states = Dictionary(uniqueKeysWithValues: try await core.status("shop").sandboxes.map { ($0.id, $0.state) })
        #expect(states == ["a": .ready, "b": .ready], "neither c was added nor a and b taken as stopped")
    }

    @Test func aSandboxIdNamesOneSandboxOfOnePool() async throws {
        let (core, pool) = try await serving(sandboxes: ["a"], slots: 4)
        let other = try await core.pool(
            of: try await core.deploy("other", "v1", services: [web(1, image: "b")]),
            app: "other"
        )
        #expect(other != pool)
        let refusal = await #expect(throws: CoreError.self) {
            try await core.broker.report(SandboxReport(sandbox: "a", pool: other, state: .starting), from: "fake")
        }
        #expect(refusal?.code == .wrongPool)
        #expect(try await core.status("shop").sandboxes.first { $0.id == "a" }?.state == .ready)
    }

    @Test func concurrentAcquiresNeverOverbookASandbox() async throws {
        let (core, _) = try await serving(sandboxes: ["a", "b"], slots: 50)
        let broker = core.broker
        let granted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 {
                group.addTask { (try? await broker.acquire(app: "shop", service: "web")) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(granted == 100)
        let status = try await core.status("shop")
        #expect(status.sandboxes.map(\.slotsOut) == [50, 50])
    }

    @Test func aSuspectSandboxReportedReadyAgainIsCheckedAndServesAgain() async throws {
        let (core, pool) = try await serving(sandboxes: ["a"], slots: 4)
        var events = core.events()
        let lease = try await core.broker.acquire(app: "shop", service: "web")
        core.probe.setFailing(lease.url, true)
        await core.broker.invalidate(lease.id, reason: "reset")
        await #expect(throws: CoreError.self) { try await core.broker.acquire(app: "shop", service: "web") }
        // The clock stands still, so the background re-check waits; only the report can help.
        core.probe.setFailing(lease.url, false)
        try await core.broker.report(
            SandboxReport(sandbox: "a", pool: pool, state: .ready, url: lease.url),
            from: "fake"
        )
        await events.next(.sandboxReady) { $0.sandbox == "a" }
        #expect(try await core.broker.acquire(app: "shop", service: "web").sandbox == "a")
    }
}
