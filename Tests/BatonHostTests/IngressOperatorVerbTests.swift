import BatonJSON
import BatonRPC
import BatonTestSupport
import Testing

/// What clients of the ingress and routers see while an operator pauses, scales or removes
/// an app.
extension IngressTests {
    @Test func aPausedAppHoldsRequestsAndAnswers503NamingThePauseAfterTheHold() async throws {
        let backend = try await TestBackend.start(body: "served")
        defer { Task { await backend.stop() } }
        try await withStage(holdTimeoutMs: 300) { stage in
            try await stage.live("v1", [backend])
            _ = try await stage.admin.call("app.pause", ["app": "shop"])
            let paused = try await stage.get()
            #expect(paused.status == 503)
            #expect(paused.body.contains("paused") && paused.body.contains("ingress.holdTimeoutMs"))
            #expect(try await stage.admin.call("app.status", ["app": "shop"])["phase"] == "paused")
            _ = try await stage.admin.call("app.resume", ["app": "shop"])
            #expect(try await stage.get().body == "served")
        }
    }

    @Test func aLeaseRequestHeldByAPauseIsAnsweredOnResume() async throws {
        let backend = try await TestBackend.start(body: "served")
        defer { Task { await backend.stop() } }
        try await withStage { stage in
            try await stage.live("v1", [backend])
            let router = try await stage.harness.client(.router)
            _ = try await stage.admin.call("app.pause", ["app": "shop"])
            let held = try await router.send("lease.acquire", ["app": "shop", "waitMs": 30_000])
            _ = try await router.call("host.ping")  // answered once the acquire above took its place
            #expect(!held.isAnswered, "no lease while the app is paused")
            _ = try await stage.admin.call("app.resume", ["app": "shop"])
            #expect(try await held.result()["sandbox"] == "v1-0")
        }
    }

    @Test func aServiceScaledToZeroAnswers503UntilItIsScaledUpAndReady() async throws {
        let backend = try await TestBackend.start(body: "back")
        defer { Task { await backend.stop() } }
        try await withStage(holdTimeoutMs: 300) { stage in
            try await stage.live("v1", [backend])
            _ = try await stage.admin.call("app.scale", ["app": "shop", "service": "web", "instances": 0])
            let down = try #require(await stage.events.next("event") { $0["type"] == "pool.scaled_down" })
            let stopped = try await stage.get()
            #expect(stopped.status == 503 && stopped.body.contains("scaled to 0"))

            _ = try await stage.admin.call("app.scale", ["app": "shop", "service": "web", "instances": 1])
            let raised = try #require(
                await stage.desired.next("scheduler.desired") { $0["pools"]?.arrayValue?.first?["desired"] == 1 }
            )
            #expect(raised["pools"]?.arrayValue?.first?["pool"] == down["pool"])
            _ = try await stage.scheduler.call(
                "scheduler.report",
                ["sandbox": "v1-again", "pool": down["pool"] ?? .null, "state": "ready", "url": .string(backend.url)]
            )
            _ = await stage.events.next("event") { $0["type"] == "sandbox.ready" }
            #expect(try await stage.get().body == "back")
        }
    }

    @Test func aRemovedAppLosesItsRouteOnceItDrained() async throws {
        let backend = try await TestBackend.start(body: "bye")
        defer { Task { await backend.stop() } }
        try await withStage { stage in
            try await stage.live("v1", [backend])
            _ = try await stage.admin.call("app.remove", ["app": "shop"])
            _ = await stage.events.next("event") { $0["type"] == "app.removed" }
            #expect(try await stage.get().status == 404)
            let gone = await #expect(throws: RPCError.self) {
                try await stage.admin.call("app.status", ["app": "shop"])
            }
            #expect(gone?.code == 2002)
        }
    }
}
