import BatonCore
import Testing

/// `app.rollback`: the previous finished version again, through the readiness gate.
@Suite("Rollback", .timeLimit(.minutes(1)))
struct RollbackTests {
    @Test func aRollbackRedeploysThePreviousDoneVersionThroughTheGate() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let first = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let oldPool = try await core.pool(of: first)
        _ = try await core.live("v2", [web(image: "b")], sandboxes: ["b"], events: &events)
        #expect(try await core.desired(oldPool) == 0, "v1's pool drained and stopped")

        let (rollback, version) = try await core.launcher.rollback(app: "shop")
        #expect(version == "v1")
        #expect(try await core.pool(of: rollback) == oldPool, "the old version's pool is taken back")
        #expect(try await core.desired(oldPool) == 1)
        #expect(try await core.status("shop").activeVersion == "v2", "nothing switches before the gate")
        #expect(try await core.broker.acquire(app: "shop", service: "web").version == "v2")

        try await core.ready("a2", pool: oldPool)
        let cutover = await events.next(.deployCutover)
        #expect(cutover?.deployment == rollback)
        #expect(try await core.status("shop").activeVersion == "v1")
        #expect(try await core.launcher.rollback(app: "shop").version == "v2", "and back again")
    }

    @Test func withoutAnEarlierFinishedVersionThereIsNothingToRollBackTo() async throws {
        let core = await CoreHarness()
        var events = core.events()
        _ = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        let refusal = await #expect(throws: CoreError.self) { try await core.launcher.rollback(app: "shop") }
        #expect(refusal?.code == .nothingToRollBackTo)
        let unknown = await #expect(throws: CoreError.self) { try await core.launcher.rollback(app: "nowhere") }
        #expect(unknown?.code == .unknownApp)
    }
}
