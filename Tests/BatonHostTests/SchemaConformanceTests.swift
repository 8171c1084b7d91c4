import BatonContract
import BatonIngress
import BatonJSON
import BatonProtocol
import BatonRPC
import BatonTestSupport
import Testing

/// The host's traffic against protocol/schemas: every method has a schema for its params and
/// result, and a scenario that calls every method checks what goes in and what comes out,
/// notifications included, so the spec and the code cannot drift apart.
@Suite("Protocol schemas", .timeLimit(.minutes(1)))
struct SchemaConformanceTests {
    let validator: SchemaValidator

    init() throws {
        validator = try SchemaValidator(directory: BatonProcess.repositoryPath("protocol/schemas"))
    }

    /// Calls through `client`, checking params and result against their schemas.
    private func call(_ client: RPCClient, _ method: String, _ params: JSON? = nil) async throws -> JSON {
        let problems = validator.problems(params ?? .object([:]), file: "\(method).params.schema.json")
        #expect(problems.isEmpty, "params of \(method): \(problems)")
        let result = try await client.call(method, params)
        let resultProblems = validator.problems(result, file: "\(method).result.schema.json")
        #expect(resultProblems.isEmpty, "result of \(method): \(resultProblems)")
        return result
    }

    /// Reads a client's notifications in order, checking every one against its schema,
    /// including those skipped on the way to the one waited for.
    private struct CheckedReader {
        var iterator: AsyncStream<RPCNotification>.Iterator
        let validator: SchemaValidator
        var checked = 0

        init(_ client: RPCClient, _ validator: SchemaValidator) {
            iterator = client.notifications.makeAsyncIterator()
            self.validator = validator
        }

        mutating func next(_ method: String, where matches: (JSON) -> Bool = { _ in true }) async -> JSON? {
            while let notification = await iterator.next() {
                let problems = validator.problems(
                    notification.params,
                    file: "\(notification.method).notification.schema.json"
                )
                #expect(problems.isEmpty, "\(notification.method): \(problems)")
                checked += 1
                if notification.method == method, let params = notification.params, matches(params) { return params }
            }
            return nil
        }
    }

    @Test func everyMethodIsSpecified() async throws {
        try await withHost(configure: { $0.ingress = IngressConfiguration(port: 0) }) { harness in
            for method in harness.host.rpcServer.methodNames + ["host.hello"] {
                #expect(validator.schemas["\(method).params.schema.json"] != nil, "\(method) has no params schema")
                #expect(validator.schemas["\(method).result.schema.json"] != nil, "\(method) has no result schema")
            }
            // The wire module names exactly the methods the host answers.
            #expect(Set(harness.host.rpcServer.methodNames) == Set(ProtocolMethod.allCases.map(\.rawValue)))
        }
        for notification in ProtocolNotification.allCases {
            #expect(validator.schemas["\(notification.rawValue).notification.schema.json"] != nil, "\(notification)")
        }
    }

    @Test func theValidatorRejectsWhatTheSchemasForbid() {
        #expect(!validator.problems(["app": 5], file: "app.status.params.schema.json").isEmpty)
        #expect(
            !validator.problems(
                ["sandbox": "s", "pool": "p", "state": "sleeping"],
                file: "scheduler.report.params.schema.json"
            ).isEmpty
        )
        #expect(
            !validator.problems(["deployment": "d-1", "extra": true], file: "app.deploy.result.schema.json").isEmpty
        )
        #expect(
            !validator.problems(["lease": "l"], file: "lease.acquire.result.schema.json").isEmpty,
            "a $ref to common.schema.json is followed"
        )
        #expect(validator.problems(["app": "shop"], file: "app.status.params.schema.json").isEmpty)
    }

    @Test func aWholeRolloverSpeaksTheSchemas() async throws {
        let v1 = try await TestBackend.start(body: "v1")
        let v2 = try await TestBackend.start(body: "v2")
        defer {
            Task {
                await v1.stop()
                await v2.stop()
            }
        }
        try await withHost(configure: { $0.ingress = IngressConfiguration(port: 0) }) { harness in
            let (admin, scheduler, router) = try await harness.clients()
            let fresh = try await RPCClient.connect(socketPath: harness.socket)
            defer { Task { await fresh.close() } }
            _ = try await call(
                fresh,
                "host.hello",
                [
                    "protocol": "baton/1", "role": "router", "client": ["name": "schema-test", "version": "1"],
                    "token": nil,
                ]
            )
            var readDesired = CheckedReader(scheduler, validator)
            var readEvents = CheckedReader(admin, validator)
            var readRevoked = CheckedReader(router, validator)
            _ = try await call(admin, "host.ping")
            _ = try await call(admin, "events.watch", ["apps": ["shop"]])
            _ = try await call(scheduler, "scheduler.subscribe")
            _ = try await call(router, "lease.watch")
            _ = try await call(
                admin,
                "app.deploy",
                [
                    "app": "shop", "version": "v1", "readyTimeoutMs": 10_000, "drainTimeoutMs": 1_000,
                    "onTimeout": "rollback",
                    "services": [
                        [
                            "name": "web", "instances": 1, "spec": ["image": "shop:1"], "health": ["path": "/"],
                            "minReady": 1, "slots": 8,
                        ]
                    ],
                ]
            )
            let pool1 = try #require(await readDesired.next("scheduler.desired")?["pools"]?.arrayValue?.first?["pool"])
            _ = try await call(scheduler, "scheduler.report", ["sandbox": "a", "pool": pool1, "state": "starting"])
            _ = try await call(
                scheduler,
                "scheduler.report",
                ["sandbox": "a", "pool": pool1, "state": "ready", "url": .string(v1.url)]
            )
            let done = await readEvents.next("event") { $0["type"] == "deploy.done" }
            #expect(done != nil)
            _ = try await call(
                scheduler,
                "scheduler.sync",
                ["sandboxes": [["sandbox": "a", "pool": pool1, "state": "ready", "url": .string(v1.url)]]]
            )
            _ = try await call(admin, "route.set", ["host": "shop.test", "app": "shop"])
            _ = try await call(admin, "route.list")
            _ = try await call(admin, "app.list")
            _ = try await call(admin, "app.status", ["app": "shop"])
            let lease = try await call(
                router,
                "lease.acquire",
                ["app": "shop", "service": "web", "slots": 1, "waitMs": 1_000, "exclude": ["z"]]
            )
            _ = try await call(router, "lease.renew", ["lease": lease["lease"] ?? .null])
            let answer = try await call(
                admin,
                "ingress.request",
                ["app": "shop", "method": "GET", "path": "/", "headers": ["X-Test": "1"], "timeoutMs": 5_000]
            )
            #expect(answer["status"] == 200)

            _ = try await call(
                admin,
                "app.deploy",
                [
                    "app": "shop", "version": "v2", "drainTimeoutMs": 1_000,
                    "services": [["name": "web", "spec": ["image": "shop:2"]]],
                ]
            )
            let pool2 = try #require(
                await readDesired.next("scheduler.desired") { $0["pools"]?.arrayValue?.first?["version"] == "v2" }?[
                    "pools"
                ]?.arrayValue?.first?["pool"]
            )
            _ = try await call(
                scheduler,
                "scheduler.report",
                ["sandbox": "b", "pool": pool2, "state": "ready", "url": .string(v2.url)]
            )
            let cutover = await readEvents.next("event") { $0["type"] == "deploy.cutover" }
            #expect(cutover != nil)
            _ = try await call(router, "lease.invalidate", ["lease": lease["lease"] ?? .null, "reason": "schema test"])
            _ = try await call(router, "lease.release", ["lease": lease["lease"] ?? .null])
            _ = try await call(
                scheduler,
                "scheduler.report",
                ["sandbox": "a", "pool": pool1, "state": "stopped", "reason": "scaled down"]
            )
            _ = try await call(admin, "route.remove", ["host": "shop.test"])
            let finished = await readEvents.next("event") { $0["type"] == "deploy.done" && $0["version"] == "v2" }
            #expect(finished != nil)
            let revocation = await readRevoked.next("lease.revoked")
            #expect(revocation?["reason"] == "cutover")
            #expect(revocation != nil)
            _ = try await call(admin, "app.pause", ["app": "shop"])
            _ = try await call(admin, "app.list")
            _ = try await call(admin, "app.resume", ["app": "shop"])
            _ = try await call(admin, "app.scale", ["app": "shop", "service": "web", "instances": 2])
            _ = try await call(
                admin,
                "app.scale",
                ["app": "shop", "service": "web", "instances": 0, "drainTimeoutMs": 1_000]
            )
            _ = try await call(admin, "app.status", ["app": "shop"])
            _ = try await call(admin, "app.remove", ["app": "shop", "drainTimeoutMs": 1_000])
            let removed = await readEvents.next("event") { $0["type"] == "app.removed" }
            #expect(removed != nil)
            #expect(readEvents.checked > 10)
            #expect(readDesired.checked >= 2)
        }
    }
}
