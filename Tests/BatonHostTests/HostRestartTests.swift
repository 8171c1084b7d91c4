import BatonJSON
import BatonLoad
import BatonPlugins
import BatonRPC
import BatonTLS
import BatonTestSupport
import Foundation
import Subprocess
import Testing

extension ProcessHeavySuites {
    /// `baton serve` restarted under load, as real processes with the built-in scheduler and
    /// examples/hello: which sandboxes survive (by pid), and how many requests fail.
    @Suite("Host restarts", .serialized, .timeLimit(.minutes(3)))
    struct HostRestartTests {
        /// One host's run on a state directory, with its HTTP port and the marker of its sandboxes.
        struct Setup {
            let directory = TemporaryDirectory()
            let marker = "--test-\(UUID().uuidString)"
            let port: Int
            /// Where HTTPS is served, for a setup that serves it.
            let httpsPort: Int?
            var socket: String { directory.file("baton.sock") }
            var arguments: [String] {
                ["--socket", socket, "--state", directory.file("state"), "--http", "127.0.0.1:\(port)"]
                    + (httpsPort.map { ["--https", "127.0.0.1:\($0)"] } ?? [])
            }
            var sandboxes: Set<Int32> { Set(ProcessTable.pids(withArgument: marker)) }

            init(https: Bool = false) throws {
                port = try FreePort.pick()
                httpsPort = https ? try FreePort.pick() : nil
            }

            func admin() async throws -> RPCClient {
                let client = try await RPCClient.connect(socketPath: socket)
                try await client.hello(role: .admin, client: RPCProgramInfo(name: "restart-test", version: "1"))
                return client
            }

            /// Deploys `version` and waits for `event` of it (deploy.done, or deploy.cutover).
            func deploy(_ version: String, spec: JSON? = nil, until event: String = "deploy.done") async throws {
                let admin = try await admin()
                defer { Task { await admin.close() } }
                var events = NotificationReader(admin)
                _ = try await admin.call("events.watch")
                _ = try await admin.call("app.deploy", spec ?? hello(version, marker: marker))
                _ = try await admin.call("route.set", ["host": "hello.localhost", "app": "hello"])
                _ = await events.next("event") {
                    $0["type"]?.stringValue == event && $0["version"]?.stringValue == version
                }
            }

            func load(_ recorder: LoadRecorder) -> Task<Void, Never> {
                let generator = LoadGenerator(
                    host: "127.0.0.1",
                    port: port,
                    hostHeader: "hello.localhost",
                    recorder: recorder
                )
                return Task { await generator.run() }
            }

            /// What the host logs once its ingress and its socket both listen.
            static let listening = ["ingress listening", "rpc socket listening"]

            /// Whatever a failed test left behind.
            func cleanUp() {
                for pid in ProcessTable.pids(withArgument: marker) { kill(pid, SIGKILL) }
                directory.remove()
            }
        }

        @Test func aRestartThatTakesOverFailsNoRequestAndRestartsNoSandbox() async throws {
            let setup = try Setup()
            defer { setup.cleanUp() }
            let recorder = LoadRecorder()
            let (survivors, _) = try await BatonProcess.serving(setup.arguments, plugins: true, keepingSandboxes: true)
            { first, firstLog in
                try await firstLog.waitFor(all: Setup.listening)
                try await setup.deploy("v1")
                let before = setup.sandboxes
                #expect(before.count == 2)
                let load = setup.load(recorder)
                defer { load.cancel() }
                await recorder.waitFor(count: 200)
                let (after, _) = try await BatonProcess.serving(setup.arguments + ["--take-over"], plugins: true) {
                    second,
                    secondLog in
                    try await secondLog.waitFor("took over from the running host")
                    try await firstLog.waitFor("handed over; requests in flight are done")
                    // Everything from here on is answered by the new host.
                    await recorder.waitFor(count: recorder.all.count + 300)
                    load.cancel()
                    await load.value
                    let after = setup.sandboxes
                    try second.send(signal: .terminate)
                    _ = try await secondLog.rest()
                    return after
                }
                _ = try await firstLog.rest()
                return (before, after)
            }
            #expect(survivors.0 == survivors.1, "the same sandbox processes serve before and after")
            let failures = recorder.all.compactMap(\.failure)
            #expect(failures.count == 0, "\(failures.count) requests failed: \(failures.prefix(5))")
            #expect(setup.sandboxes.isEmpty, "the last host's exit (--stop-sandboxes-at-exit) stopped them")
        }

        @Test func aRestartThatTakesOverKeepsServingHTTPSWithoutAFailedRequest() async throws {
            let setup = try Setup(https: true)
            defer { setup.cleanUp() }
            let httpsPort = try #require(setup.httpsPort)
            let authority = try CertificateAuthority()
            let (chain, key) = try authority.issue(for: ["hello.localhost"])
            try chain.write(toFile: setup.directory.file("hello.pem"), atomically: true, encoding: .utf8)
            try key.write(toFile: setup.directory.file("hello.key"), atomically: true, encoding: .utf8)
            var generator = LoadGenerator(
                host: "127.0.0.1",
                port: httpsPort,
                hostHeader: "hello.localhost",
                recorder: LoadRecorder()
            )
            generator.tls = try LoadTLS(trustingPEM: try authority.certificatePEM)
            let recorder = generator.recorder
            _ = try await BatonProcess.serving(setup.arguments, plugins: true, keepingSandboxes: true) {
                first,
                firstLog in
                try await firstLog.waitFor(all: Setup.listening + ["ingress listening for HTTPS"])
                try await setup.deploy("v1")
                let tls: JSON = [
                    "cert": .string(setup.directory.file("hello.pem")),
                    "key": .string(setup.directory.file("hello.key")),
                ]
                _ = try await setup.admin().call("route.set", ["host": "hello.localhost", "app": "hello", "tls": tls])
                let load = Task { [generator] in await generator.run() }
                defer { load.cancel() }
                await recorder.waitFor(count: 200)
                _ = try await BatonProcess.serving(setup.arguments + ["--take-over"], plugins: true) {
                    second,
                    secondLog in
                    try await secondLog.waitFor("took over from the running host")
                    try await firstLog.waitFor("handed over; requests in flight are done")
                    await recorder.waitFor(count: recorder.all.count + 300)
                    load.cancel()
                    await load.value
                    try second.send(signal: .terminate)
                    _ = try await secondLog.rest()
                    return true
                }
                _ = try await firstLog.rest()
                return true
            }
            let failures = recorder.all.compactMap(\.failure)
            #expect(recorder.all.count >= 500)
            #expect(failures.count == 0, "\(failures.count) HTTPS requests failed: \(failures.prefix(5))")
        }

        /// Without a handover the port is closed between the two hosts: requests then fail to
        /// connect (and kill -9 also loses those in flight), which the load sees only as socket
        /// errors, never as an HTTP error. `scripts/bench-restart` measures the gap.
        @Test(arguments: [RestartKind.sigterm, .kill])
        func aHostStoppedAndStartedAgainComesBackOnTheSameSandboxes(_ kind: RestartKind) async throws {
            let setup = try Setup()
            defer { setup.cleanUp() }
            let recorder = LoadRecorder()
            var load: Task<Void, Never>?
            defer { load?.cancel() }
            let (before, _) = try await BatonProcess.serving(setup.arguments, plugins: true, keepingSandboxes: true) {
                first,
                firstLog in
                try await firstLog.waitFor(all: Setup.listening)
                try await setup.deploy("v1")
                load = setup.load(recorder)  // runs on through the restart
                await recorder.waitFor(count: recorder.all.count + 200)
                // Answered means stored: the host dies right after the answer.
                _ = try await setup.admin().call("route.set", ["host": "acked.localhost", "app": "hello"])
                try first.send(signal: kind.signal)
                _ = try await firstLog.rest()
                return setup.sandboxes
            }
            #expect(before.count == 2, "the sandboxes outlive the host")
            let (after, _) = try await BatonProcess.serving(setup.arguments, plugins: true) { second, secondLog in
                try await secondLog.waitFor("state restored")
                try await secondLog.waitFor("ingress listening")
                let resumed = recorder.all.count
                await recorder.waitFor(count: resumed + 300)
                load?.cancel()
                await load?.value
                #expect(recorder.all.suffix(100).allSatisfy { $0.failure == nil }, "the restarted host serves")
                let status = try await setup.admin().call("app.status", ["app": "hello"])
                #expect(status["activeVersion"] == "v1", "the app and its active version came back")
                let routes = try await setup.admin().call("route.list")["routes"]?.arrayValue ?? []
                #expect(
                    routes.contains { $0["host"] == "acked.localhost" },
                    "an acknowledged change survived: \(routes)"
                )
                let after = setup.sandboxes
                try second.send(signal: .terminate)
                _ = try await secondLog.rest()
                return after
            }
            #expect(after == before, "no sandbox restarted: \(before) then \(after)")
            let failures = recorder.all.compactMap(\.failure)
            let notAtTheSocket = failures.filter { !$0.hasPrefix("socket error") }
            #expect(notAtTheSocket.count == 0, "only connections failed: \(notAtTheSocket.prefix(5))")
            print(
                "\(kind) restart: \(failures.count) of \(recorder.all.count) requests failed; not at the socket: \(Set(notAtTheSocket))"
            )
            #expect(setup.sandboxes.isEmpty)
        }

        @Test func aSchedulerKilledUnderServeComesBackAndAdoptsItsSandboxesWithoutAFailedRequest() async throws {
            let setup = try Setup()
            defer { setup.cleanUp() }
            let recorder = LoadRecorder()
            let (pids, _) = try await BatonProcess.serving(setup.arguments, plugins: true) { host, log in
                try await log.waitFor(all: Setup.listening)
                try await setup.deploy("v1")
                let before = setup.sandboxes
                let load = setup.load(recorder)
                defer { load.cancel() }
                await recorder.waitFor(count: 200)
                let killed = ProcessTable.children(
                    withArgument: "baton-process-scheduler",
                    of: host.processIdentifier.value
                )
                #expect(killed.count == 1)
                for pid in killed { kill(pid, SIGKILL) }
                try await log.waitFor("adopted sandbox")
                await recorder.waitFor(count: recorder.all.count + 300)
                load.cancel()
                await load.value
                let restarted = ProcessTable.children(
                    withArgument: "baton-process-scheduler",
                    of: host.processIdentifier.value
                )
                let after = setup.sandboxes
                try host.send(signal: .terminate)
                _ = try await log.rest()
                return (before: before, after: after, killed: killed, restarted: restarted)
            }
            #expect(pids.restarted.count == 1 && pids.restarted != pids.killed, "the host started the scheduler again")
            #expect(pids.after == pids.before, "no sandbox restarted")
            let failures = recorder.all.compactMap(\.failure)
            #expect(failures.count == 0, "\(failures.count) requests failed: \(failures.prefix(5))")
        }

        @Test func aDeployWaitingForReadinessAcrossARestartResumesAndCutsOver() async throws {
            let setup = try Setup()
            defer { setup.cleanUp() }
            let recorder = LoadRecorder()
            // v2's sandboxes take 3 s to start listening: the restart falls inside the wait.
            let slow = hello(
                "v2",
                marker: setup.marker,
                command: [
                    "sh", "-c",
                    "sleep 3; exec python3 -u \(BatonProcess.repositoryPath("examples/hello/app.py")) \(setup.marker)",
                ]
            )
            _ = try await BatonProcess.serving(setup.arguments, plugins: true, keepingSandboxes: true) {
                first,
                firstLog in
                try await firstLog.waitFor(all: Setup.listening)
                try await setup.deploy("v1")
                let load = setup.load(recorder)
                defer { load.cancel() }
                let admin = try await setup.admin()
                _ = try await admin.call("app.deploy", slow)
                await admin.close()
                try await firstLog.waitFor("pool.created")
                _ = try await BatonProcess.serving(setup.arguments + ["--take-over"], plugins: true) {
                    second,
                    secondLog in
                    try await secondLog.waitFor("deploy resumes its wait")
                    let admin = try await setup.admin()
                    var events = NotificationReader(admin)
                    _ = try await admin.call("events.watch")
                    if try await admin.call("app.status", ["app": "hello"])["activeVersion"] != "v2" {
                        _ = await events.next("event") { $0["type"] == "deploy.cutover" && $0["version"] == "v2" }
                    }
                    let cutover = recorder.all.count
                    await recorder.waitFor(count: cutover + 200)
                    #expect(
                        recorder.all.suffix(50).allSatisfy { $0.kind != "GET" || $0.servedBy == "v2" },
                        "v2 serves after the cutover"
                    )
                    load.cancel()
                    await load.value
                    await admin.close()
                    try second.send(signal: .terminate)
                    _ = try await secondLog.rest()
                    return true
                }
                _ = try await firstLog.rest()
                return true
            }
            let failures = recorder.all.compactMap(\.failure)
            #expect(failures.count == 0, "\(failures.count) requests failed: \(failures.prefix(5))")
            #expect(setup.sandboxes.isEmpty)
        }
    }
}

enum RestartKind: String, CustomTestStringConvertible, Sendable {
    case sigterm, kill

    var signal: Signal { self == .sigterm ? .terminate : .kill }
    var testDescription: String { rawValue }
}
