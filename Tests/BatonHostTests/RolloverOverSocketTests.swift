import BatonCore
import BatonJSON
import BatonRPC
import BatonTestSupport
import Testing

/// The main scenarios again, over the real socket: a scripted scheduler reports
/// readiness and a router acquires, watches and sees revocations.
@Suite("Rollover over the socket", .timeLimit(.minutes(1)))
struct RolloverOverSocketTests {
    private func deploy(_ admin: RPCClient, _ version: String, image: String) async throws -> String {
        let result = try await admin.call(
            "app.deploy",
            [
                "app": "shop", "version": .string(version),
                "services": [["name": "web", "instances": 1, "spec": ["image": .string(image)]]],
            ]
        )
        return try #require(result["deployment"]?.stringValue)
    }

    @Test func aScriptedSchedulerAndARouterSeeAWholeRollover() async throws {
        let first = try await TestBackend.start(body: "v1")
        let second = try await TestBackend.start(body: "v2")
        defer {
            Task {
                await first.stop()
                await second.stop()
            }
        }
        try await withHost { harness in
            let (admin, scheduler, router) = try await harness.clients()
            var events = NotificationReader(admin)
            var desired = NotificationReader(scheduler)
            var revocations = NotificationReader(router)
            _ = try await admin.call("events.watch", ["apps": ["shop"]])
            _ = try await router.call("lease.watch")
            let subscription = try await scheduler.call("scheduler.subscribe")
            #expect(subscription["pools"] == [])

            _ = try await deploy(admin, "v1", image: "one")
            let firstDesired = try #require(await desired.next("scheduler.desired"))
            #expect(firstDesired["seq"] == 1)
            let firstPool = try #require(firstDesired["pools"]?.arrayValue?.first?["pool"]?.stringValue)
            _ = try await scheduler.call(
                "scheduler.report",
                ["sandbox": "s1", "pool": .string(firstPool), "state": "starting"]
            )
            _ = try await scheduler.call(
                "scheduler.report",
                ["sandbox": "s1", "pool": .string(firstPool), "state": "ready", "url": .string(first.url)]
            )
            _ = await events.next("event") { $0["type"] == "deploy.done" }
            let oldLease = try await router.call("lease.acquire", ["app": "shop"])
            #expect(oldLease["url"] == .string(first.url))
            #expect(oldLease["version"] == "v1")

            _ = try await deploy(admin, "v2", image: "two")
            let secondDesired = try #require(await desired.next("scheduler.desired"))
            #expect(secondDesired["seq"] == 2)
            let secondPool = try #require(secondDesired["pools"]?.arrayValue?.first?["pool"]?.stringValue)
            #expect(secondPool != firstPool)
            _ = try await scheduler.call(
                "scheduler.report",
                ["sandbox": "s2", "pool": .string(secondPool), "state": "ready", "url": .string(second.url)]
            )
            let revoked = try #require(await revocations.next("lease.revoked"))
            #expect(revoked["reason"] == "cutover")
            #expect(revoked["leases"] == [oldLease["lease"]!])
            let newLease = try await router.call("lease.acquire", ["app": "shop"])
            #expect(newLease["url"] == .string(second.url))

            let status = try await admin.call("app.status", ["app": "shop"])
            #expect(status["activeVersion"] == "v2")
            #expect(status["sandboxes"]?.arrayValue?.first { $0["sandbox"] == "s1" }?["state"] == "draining")

            _ = try await router.call("lease.release", ["lease": oldLease["lease"]!])
            let scaledDown = try #require(await desired.next("scheduler.desired"))
            #expect(scaledDown["seq"] == 3)
            #expect(scaledDown["pools"]?.arrayValue?.first?["pool"] == .string(firstPool))
            #expect(scaledDown["pools"]?.arrayValue?.first?["desired"] == 0)
            _ = await events.next("event") { $0["type"] == "pool.scaled_down" && $0["reason"] == "drained" }
            _ = await events.next("event") { $0["type"] == "deploy.done" }
        }
    }

    @Test func sandboxesKeepServingWhenTheirSchedulerDisconnectsAndSyncReconciles() async throws {
        let backend = try await TestBackend.start()
        defer { Task { await backend.stop() } }
        try await withHost { harness in
            let admin = try await harness.client(.admin)
            let router = try await harness.client(.router)
            var events = NotificationReader(admin)
            _ = try await admin.call("events.watch")
            let scheduler = try await harness.client(.scheduler, name: "flaky")
            var desired = NotificationReader(scheduler)
            _ = try await scheduler.call("scheduler.subscribe")
            _ = try await deploy(admin, "v1", image: "one")
            let pool = try #require(await desired.next("scheduler.desired")?["pools"]?.arrayValue?.first?["pool"])
            _ = try await scheduler.call(
                "scheduler.report",
                ["sandbox": "s1", "pool": pool, "state": "ready", "url": .string(backend.url)]
            )
            _ = try await scheduler.call("scheduler.report", ["sandbox": "s2", "pool": pool, "state": "starting"])
            _ = await events.next("event") { $0["type"] == "deploy.done" }
            await scheduler.close()

            let lease = try await router.call("lease.acquire", ["app": "shop"])
            #expect(lease["sandbox"] == "s1", "a scheduler's disconnect takes nothing out of service")

            let reconnected = try await harness.client(.scheduler, name: "flaky")
            let again = try await reconnected.call("scheduler.subscribe")
            #expect(again["pools"]?.arrayValue?.first?["pool"] == pool)
            _ = try await reconnected.call(
                "scheduler.sync",
                ["sandboxes": [["sandbox": "s1", "pool": pool, "state": "ready", "url": .string(backend.url)]]]
            )
            let status = try await admin.call("app.status", ["app": "shop"])
            let states = status["sandboxes"]?.arrayValue?.map { [$0["sandbox"]!, $0["state"]!] }
            #expect(states == [["s1", "ready"], ["s2", "stopped"]])
        }
    }

    @Test func aVersionThatNeverGetsReadyRollsBackOverTheSocket() async throws {
        let backend = try await TestBackend.start()
        defer { Task { await backend.stop() } }
        try await withHost { harness in
            let (admin, scheduler, router) = try await harness.clients()
            var events = NotificationReader(admin)
            var desired = NotificationReader(scheduler)
            _ = try await admin.call("events.watch")
            _ = try await scheduler.call("scheduler.subscribe")
            _ = try await deploy(admin, "v1", image: "one")
            let pool = try #require(await desired.next("scheduler.desired")?["pools"]?.arrayValue?.first?["pool"])
            _ = try await scheduler.call(
                "scheduler.report",
                ["sandbox": "s1", "pool": pool, "state": "ready", "url": .string(backend.url)]
            )
            _ = await events.next("event") { $0["type"] == "deploy.done" }

            _ = try await admin.call(
                "app.deploy",
                [
                    "app": "shop", "version": "v2", "readyTimeoutMs": 200,
                    "services": [["name": "web", "spec": ["image": "broken"]]],
                ]
            )
            let failed = try #require(await events.next("event") { $0["type"] == "deploy.failed" })
            #expect(failed["reason"]?.stringValue?.contains("not ready after 200 ms") == true)
            let lease = try await router.call("lease.acquire", ["app": "shop"])
            #expect(lease["version"] == "v1")
            #expect(try await admin.call("app.status", ["app": "shop"])["activeVersion"] == "v1")
        }
    }

    @Test func aSchedulerThatPipelinesStartingAndReadyEndsWithEverySandboxReady() async throws {
        let backend = try await TestBackend.start()
        defer { Task { await backend.stop() } }
        try await withHost { harness in
            let (admin, scheduler, _) = try await harness.clients()
            var desired = NotificationReader(scheduler)
            _ = try await scheduler.call("scheduler.subscribe")
            _ = try await deploy(admin, "v1", image: "one")
            let pool = try #require(await desired.next("scheduler.desired")?["pools"]?.arrayValue?.first?["pool"])
            let count = 1_000
            for index in 0..<count {
                let sandbox = JSON.string("s\(index)")
                // Notifications: nothing waits for an answer between `starting` and `ready`.
                try await scheduler.notify("scheduler.report", ["sandbox": sandbox, "pool": pool, "state": "starting"])
                try await scheduler.notify(
                    "scheduler.report",
                    ["sandbox": sandbox, "pool": pool, "state": "ready", "url": .string(backend.url)]
                )
            }
            _ = try await scheduler.call("host.ping")  // taken in order: every report before it has taken effect
            let sandboxes = try #require(try await admin.call("app.status", ["app": "shop"])["sandboxes"]?.arrayValue)
            #expect(sandboxes.count == count)
            #expect(sandboxes.filter { $0["state"] != "ready" }.map { $0["sandbox"] ?? .null } == [])
        }
    }

    @Test func subscribingAgainEndsTheEarlierSubscription() async throws {
        try await withHost { harness in
            let (admin, scheduler, _) = try await harness.clients()
            var desired = NotificationReader(scheduler)
            let first = try await scheduler.call("scheduler.subscribe")["subscription"]
            let second = try #require(try await scheduler.call("scheduler.subscribe")["subscription"])
            #expect(first != second)
            var seen: [JSON] = []
            for version in ["v1", "v2", "v3"] {
                _ = try await deploy(admin, version, image: version)
                while let update = await desired.next("scheduler.desired") {
                    seen.append(update["subscription"] ?? .null)
                    if update["subscription"] == second,
                        update["pools"]?.arrayValue?.contains(where: { $0["version"] == .string(version) }) == true
                    {
                        break
                    }
                }
            }
            #expect(!seen.contains(first ?? .null), "the replaced subscription still pushed: \(seen)")
        }
    }

    @Test func badRequestsGetTheirErrors() async throws {
        try await withHost { harness in
            let admin = try await harness.client(.admin)
            let router = try await harness.client(.router)
            await expectError(2002) { try await router.call("lease.acquire", ["app": "nowhere"]) }
            await expectError(-32602) { try await admin.call("app.deploy", ["app": "shop", "services": "web"]) }
            await expectError(3001) {
                try await admin.call("app.deploy", ["app": "shop", "version": "v1", "services": []])
            }
            await expectError(-32005) { try await admin.call("lease.acquire", ["app": "shop"]) }
            _ = try await admin.call(
                "app.deploy",
                ["app": "shop", "version": "v1", "services": [["name": "web", "spec": ["image": "a"]]]]
            )
            await expectError(3002) {
                try await admin.call(
                    "app.deploy",
                    ["app": "shop", "version": "v1", "services": [["name": "web", "spec": ["image": "b"]]]]
                )
            }
            let noSandbox = await expectError(2001) {
                try await router.call("lease.acquire", ["app": "shop", "waitMs": 10])
            }
            #expect(noSandbox?.data?["retryable"] == true)
            #expect(noSandbox?.data?["retryAfterMs"]?.intValue != nil)
            _ = try await admin.call("route.set", ["host": "Shop.Example", "app": "shop"])
            #expect(try await admin.call("route.list") == ["routes": [["host": "shop.example", "app": "shop"]]])
            await expectError(3003) { try await admin.call("route.remove", ["host": "other.example"]) }
            #expect(try await admin.call("app.list")["apps"]?.arrayValue?.first?["app"] == "shop")
        }
    }

    @discardableResult
    private func expectError(_ code: Int, _ body: () async throws -> JSON) async -> RPCError? {
        do {
            _ = try await body()
            Issue.record("expected error \(code), got a result")
        } catch let error as RPCError {
            #expect(error.code == code, "\(error.message)")
            return error
        } catch {
            Issue.record("expected error \(code), got \(error)")
        }
        return nil
    }
}

/// Calls that once crashed the host or poisoned its store: each is refused before anything
/// is applied, the host goes on, and it starts again on its own state.
@Suite("Hostile calls over the socket", .timeLimit(.minutes(1)))
struct HostileCallTests {
    private static let huge = JSON.int(.max)

    @Test func extremeNumbersAndBadNamesAreRefusedAndTheStateStillLoads() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let web: JSON = ["name": "web", "spec": ["image": "a"]]
        let refused: [(String, JSON)] = [
            ("app.deploy", ["app": "shop", "version": "v1", "readyTimeoutMs": Self.huge, "services": [web]]),
            ("app.deploy", ["app": "shop", "version": "v1", "drainTimeoutMs": Self.huge, "services": [web]]),
            ("app.deploy", ["app": "shop", "version": "v1", "services": [["name": "we\u{0}b", "spec": [:]]]]),
            ("app.deploy", ["app": "sh\r\nop", "version": "v1", "services": [web]]),
            ("app.deploy", ["app": "shop", "version": "v1", "services": [["name": "web", "instances": Self.huge]]]),
            ("app.deploy", ["app": "shop", "version": "v1", "services": [["name": "web", "slots": Self.huge]]]),
            ("route.set", ["host": "a\r\nb", "app": "shop"]),
        ]
        try await withHost(configure: { configuration in
            configuration.stateDirectory = directory.file("state")
            configuration.keepsState = true
        }) { harness in
            let admin = try await harness.client(.admin)
            let router = try await harness.client(.router)
            let scheduler = try await harness.client(.scheduler)
            for (method, params) in refused {
                do {
                    _ = try await admin.call(method, params)
                    Issue.record("\(method) accepted \(params)")
                } catch let error as RPCError {
                    #expect(error.code == -32602 || error.protocolCode == .invalidDeploy, "\(error.message)")
                }
            }
            _ = try await admin.call("app.deploy", ["app": "shop", "version": "v1", "services": [web]])
            let hostile: [(RPCClient, String, JSON)] = [
                (router, "lease.acquire", ["app": "shop", "waitMs": Self.huge]),
                (scheduler, "scheduler.report", ["sandbox": "s\u{0}1", "pool": "p-1", "state": "starting"]),
                (
                    scheduler, "scheduler.report",
                    ["sandbox": "s1", "pool": "p-1", "state": "ready", "url": "http://127.0.0.1:1/\r\nX: y"]
                ),
            ]
            for (client, method, params) in hostile {
                await #expect(throws: RPCError.self, "\(method) \(params)") { try await client.call(method, params) }
            }
            #expect(try await admin.call("host.ping") == [:])
        }
        try await withHost(configure: { configuration in
            configuration.stateDirectory = directory.file("state")
            configuration.keepsState = true
        }) { harness in
            let admin = try await harness.client(.admin)
            let apps = try await admin.call("app.list")
            #expect(apps["apps"]?.arrayValue?.compactMap { $0["app"]?.stringValue } == ["shop"], "\(apps)")
        }
    }
}
