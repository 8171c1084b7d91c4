import BatonCore
import Testing

/// A deploy or rollback sent again with its `requestID`, as after a lost answer or by a new
/// leader running a forwarded call again, is the one it was the first time.
@Suite("Request ids", .timeLimit(.minutes(1)))
struct RequestIDTests {
    private func request(_ version: String, image: String, id: String?) -> DeployRequest {
        DeployRequest(app: "shop", version: version, services: [web(image: image)], requestID: id)
    }

    @Test func aDeploySentAgainWithItsIdIsTheSameDeploy() async throws {
        let core = await CoreHarness()
        let first = try await core.launcher.deploy(request("v1", image: "a", id: "r-1"))
        #expect(try await core.launcher.deploy(request("v1", image: "a", id: "r-1")) == first)
        #expect(try await core.status("shop").deployments.count == 1)
        await #expect(throws: CoreError.self, "the id names another deploy") {
            try await core.launcher.deploy(request("v2", image: "b", id: "r-1"))
        }
        #expect(try await core.launcher.deploy(request("v1", image: "a", id: nil)) != first, "no id: a new deploy")
    }

    @Test func aRollbackSentAgainWithItsIdIsTheSameRollback() async throws {
        let core = await CoreHarness()
        var events = core.events()
        _ = try await core.live("v1", [web(image: "a")], sandboxes: ["a"], events: &events)
        _ = try await core.live("v2", [web(image: "b")], sandboxes: ["b"], events: &events)
        let first = try await core.launcher.rollback(app: "shop", requestID: "back-1")
        #expect(first.version == "v1")
        let again = try await core.launcher.rollback(app: "shop", requestID: "back-1")
        #expect(again.deployment == first.deployment)
        #expect(try await core.status("shop").deployments.count == 3)
    }
}
