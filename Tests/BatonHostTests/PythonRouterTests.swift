import BatonJSON
import BatonRPC
import BatonTestSupport
import Foundation
import Subprocess
import Testing

/// examples/python-router: an outside proxy that takes leases over the socket.
@Suite("Python router example", .timeLimit(.minutes(1)))
struct PythonRouterTests {
    /// Runs the router for `app` against the host at `socket`; `body` gets its HTTP port.
    /// The router is stopped with SIGTERM when `body` ends, however it ends.
    private func withRouter(socket: String, app: String, _ body: (Int) async throws -> Void) async throws {
        let script = BatonProcess.repositoryPath("examples/python-router/router.py")
        let result = try await Subprocess.run(
            .name("python3"),
            arguments: ["-u", script, "--app", app, "--port", "0"],
            environment: .inherit.updating(["BATON_SOCKET": socket]),
            input: .none,
            output: .discarded,
            error: .sequence
        ) { execution in
            defer { try? execution.send(signal: .terminate) }
            var lines = execution.standardError.strings().makeAsyncIterator()
            let port = try await BatonProcess.listeningPort(&lines)
            try await body(try #require(port, "the router did not start"))
            try? execution.send(signal: .terminate)
            while try await lines.next() != nil {}
        }
        #expect(result.terminationStatus == .exited(0))
    }

    @Test func routesThroughLeasesRetriesADeadSandboxFollowsCutoverAndReleasesItsLeases() async throws {
        let first = try await TestBackend.start(body: "first")
        let second = try await TestBackend.start(body: "second")
        let third = try await TestBackend.start(body: "third")
        defer {
            Task {
                await first.stop()
                await second.stop()
                await third.stop()
            }
        }
        try await withHost { harness in
            let (admin, scheduler, _) = try await harness.clients()
            var events = NotificationReader(admin)
            var desired = NotificationReader(scheduler)
            _ = try await admin.call("events.watch")
            _ = try await scheduler.call("scheduler.subscribe")
            _ = try await admin.call(
                "app.deploy",
                ["app": "shop", "version": "v1", "services": [["name": "web", "instances": 2]]]
            )
            let v1 = try #require(await desired.next("scheduler.desired")?["pools"]?.arrayValue?.first?["pool"])
            for (name, backend) in [("a", first), ("b", second)] {
                _ = try await scheduler.call(
                    "scheduler.report",
                    ["sandbox": .string(name), "pool": v1, "state": "ready", "url": .string(backend.url)]
                )
            }
            let live = await events.next("event") { $0["type"] == "deploy.done" }
            #expect(live != nil)

            try await withRouter(socket: harness.socket, app: "shop") { port in
                for _ in 0..<4 {
                    let answer = try await TestHTTPClient.send(port: port, host: "shop.test")
                    #expect(answer.status == 200)
                    #expect(["first", "second"].contains(answer.body))
                }
                // A dead sandbox: the router invalidates it and retries elsewhere.
                let used = try await TestHTTPClient.send(port: port, host: "shop.test").body
                let dead = used == "first" ? first : second
                await dead.stop()
                // Its address must not answer again, for another test's listener, while this
                // test waits for the host to find it dead.
                let held = try #require(await HeldPort.once(dead.port))
                defer { withExtendedLifetime(held) {} }
                for _ in 0..<4 {
                    let answer = try await TestHTTPClient.send(port: port, host: "shop.test")
                    #expect(answer.status == 200, "\(answer.body)")
                    #expect(answer.body != used)
                }
                let status = try await admin.call("app.status", ["app": "shop"])
                let deadStatus = status["sandboxes"]?.arrayValue?.first {
                    $0["sandbox"] == (used == "first" ? "a" : "b")
                }
                #expect(deadStatus?["suspect"] == true, "the router said the sandbox was broken")

                // A cutover revokes the router's lease: the next request goes to v2, and the
                // old lease is released, which lets v1 drain.
                _ = try await admin.call(
                    "app.deploy",
                    ["app": "shop", "version": "v2", "services": [["name": "web", "instances": 1, "spec": ["v": 2]]]]
                )
                let v2 = try #require(
                    await desired.next("scheduler.desired") { $0["pools"]?.arrayValue?.first?["version"] == "v2" }
                )
                let v2Pool = try #require(v2["pools"]?.arrayValue?.first?["pool"])
                _ = try await scheduler.call(
                    "scheduler.report",
                    ["sandbox": "c", "pool": v2Pool, "state": "ready", "url": .string(third.url)]
                )
                let cutover = await events.next("event") { $0["type"] == "deploy.cutover" }
                #expect(cutover != nil)
                // v1 drains once the router releases its revoked lease, which it does after
                // taking the lease out of use: from then on, requests go to v2.
                let drained = await events.next("event") { $0["type"] == "pool.scaled_down" && $0["version"] == "v1" }
                #expect(drained?["reason"] == "drained", "v1 drained because the router released its lease")
                #expect(try await TestHTTPClient.send(port: port, host: "shop.test").body == "third")
            }
            let after = try await admin.call("app.status", ["app": "shop"])
            let held = after["sandboxes"]?.arrayValue?.map { $0["slotsOut"]?.intValue ?? -1 } ?? []
            #expect(held.allSatisfy { $0 == 0 }, "the router released every lease when it stopped: \(held)")
        }
    }
}
