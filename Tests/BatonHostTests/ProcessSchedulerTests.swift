import BatonHost
import BatonIngress
import BatonJSON
import BatonLoad
import BatonPlugins
import BatonRPC
import BatonTestSupport
import Foundation
import NIOCore
import Testing

/// A scheduler plugin that must pass the same scenarios.
enum SchedulerPlugin: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case builtIn = "the built-in process scheduler"
    case python = "examples/python-scheduler"

    var testDescription: String { rawValue }

    var spec: PluginSpec {
        switch self {
        case .builtIn:
            PluginSpec(
                name: "process",
                role: "scheduler",
                command: ChildCommand(command: BatonProcess.builtExecutable("baton-process-scheduler"))
            )
        case .python:
            PluginSpec(
                name: "python",
                role: "scheduler",
                command: ChildCommand(
                    command: "python3",
                    arguments: ["-u", BatonProcess.repositoryPath("examples/python-scheduler/scheduler.py")]
                )
            )
        }
    }
}

extension ProcessHeavySuites {
    /// Scheduler plugins run by the host, running examples/hello.
    /// Serialized: a test finds its host's scheduler among this process's children.
    @Suite("Scheduler plugins", .serialized, .timeLimit(.minutes(1)))
    struct ProcessSchedulerTests {
        /// A host with `plugin` as its scheduler and HTTP on a free port; an admin watching events.
        private func withScheduledHost(
            _ plugin: SchedulerPlugin = .builtIn,
            responseHeaderTimeout: TimeAmount = .seconds(60),
            _ body: (HostHarness, RPCClient, inout NotificationReader) async throws -> Void
        ) async throws {
            try await withHost(configure: { configuration in
                configuration.plugins = [plugin.spec]
                configuration.stopsSandboxesAtExit = true
                configuration.ingress = IngressConfiguration(port: 0)
                configuration.ingress?.responseHeaderTimeout = responseHeaderTimeout
            }) { harness in
                let admin = try await harness.client(.admin)
                var events = NotificationReader(admin)
                _ = try await admin.call("events.watch")
                try await body(harness, admin, &events)
            }
        }

        @Test(arguments: SchedulerPlugin.allCases)
        func sandboxesStartBecomeReadyServeAndStopWhenScaledDown(_ plugin: SchedulerPlugin) async throws {
            let marker = "--test-\(UUID().uuidString)"
            try await withScheduledHost(plugin) { harness, admin, events in
                _ = try await admin.call("app.deploy", hello("v1", marker: marker))
                _ = try await admin.call("route.set", ["host": "hello.test", "app": "hello"])
                // Not inside #expect: the macro would advance a copy of the reader.
                let v1Done = await events.next("event") { $0["type"] == "deploy.done" && $0["version"] == "v1" }
                #expect(v1Done != nil)
                let v1 = ProcessTable.pids(withArgument: marker)
                #expect(v1.count == 2)
                let port = try #require(harness.host.ingress?.port)
                let answer = try await TestHTTPClient.send(port: port, host: "hello.test")
                #expect(answer.status == 200)
                #expect(answer.body.hasPrefix("hello from v1"))

                _ = try await admin.call("app.deploy", hello("v2", marker: marker + "-v2"))
                let scaledDown = await events.next("event") {
                    $0["type"] == "pool.scaled_down" && $0["version"] == "v1"
                }
                let v2Done = await events.next("event") { $0["type"] == "deploy.done" && $0["version"] == "v2" }
                #expect(scaledDown != nil && v2Done != nil)
                #expect(try await TestHTTPClient.send(port: port, host: "hello.test").body.hasPrefix("hello from v2"))
                var stopped = 0
                while stopped < 2,
                    await events.next("event", where: { $0["type"] == "sandbox.stopped" && $0["version"] == "v1" })
                        != nil
                {
                    stopped += 1
                }
                #expect(stopped == 2, "the v1 sandboxes were reported stopped")
                for pid in v1 { #expect(!ProcessTable.isRunning(pid), "v1 process \(pid) is gone") }
            }
            #expect(ProcessTable.pids(withArgument: marker).isEmpty, "the host's shutdown stopped every sandbox")
        }

        @Test(arguments: SchedulerPlugin.allCases)
        func aSandboxKilledWithSignal9IsReportedAndReplaced(_ plugin: SchedulerPlugin) async throws {
            let marker = "--test-\(UUID().uuidString)"
            try await withScheduledHost(plugin) { harness, admin, events in
                _ = try await admin.call("app.deploy", hello("v1", marker: marker))
                let done = await events.next("event") { $0["type"] == "deploy.done" }
                #expect(done != nil)
                let before = ProcessTable.pids(withArgument: marker)
                let victim = try #require(before.first)
                kill(victim, SIGKILL)
                let replaced = await events.next("event") { $0["type"] == "sandbox.ready" }
                #expect(replaced != nil)
                let after = ProcessTable.pids(withArgument: marker)
                #expect(after.count == 2)
                #expect(!after.contains(victim))
                let status = try await admin.call("app.status", ["app": "hello"])
                let failed = status["sandboxes"]?.arrayValue?.first { $0["state"] == "failed" }
                #expect(failed?["reason"]?.stringValue?.contains("killed by signal 9") == true)
            }
        }

        @Test(arguments: SchedulerPlugin.allCases)
        func aCrashLoopIsReportedAndTheDeployRollsBack(_ plugin: SchedulerPlugin) async throws {
            try await withScheduledHost(plugin) { harness, admin, events in
                var deploy = hello("v1", instances: 1, marker: "", command: ["sh", "-c", "exit 3"])
                deploy = deploy.setting("readyTimeoutMs", to: 3_000)
                _ = try await admin.call("app.deploy", deploy)
                let failed = await events.next("event") { $0["type"] == "deploy.failed" }
                let reason = failed?["reason"]?.stringValue ?? ""
                #expect(reason.contains("exited with status 3"))
                #expect(reason.contains("crash loop"), "reason: \(reason)")
            }
        }

        @Test func aKilledSchedulerIsRestartedAndAdoptsItsSandboxesWithoutRestartingThem() async throws {
            let marker = "--test-\(UUID().uuidString)"
            try await withScheduledHost { harness, admin, events in
                _ = try await admin.call("app.deploy", hello("v1", marker: marker))
                let done = await events.next("event") { $0["type"] == "deploy.done" }
                #expect(done != nil)
                let sandboxesBefore = ProcessTable.pids(withArgument: marker)
                let scheduler = try #require(ProcessTable.children(withArgument: "baton-process-scheduler").first)
                kill(scheduler, SIGKILL)

                // A new version needs the scheduler again: the host must have restarted it.
                _ = try await admin.call("app.deploy", hello("v2", marker: marker + "-v2"))
                let cutover = await events.next("event") { $0["type"] == "deploy.cutover" && $0["version"] == "v2" }
                #expect(cutover != nil)
                #expect(ProcessTable.children(withArgument: "baton-process-scheduler").count == 1)
                #expect(!ProcessTable.isRunning(scheduler))
                let status = try await admin.call("app.status", ["app": "hello"])
                let v1 = status["sandboxes"]?.arrayValue?.filter { $0["pool"] == "p-1" } ?? []
                #expect(v1.count == 2, "no v1 sandbox was started again")
                #expect(v1.allSatisfy { $0["state"] != "failed" }, "\(v1)")
                let drained = await events.next("event") { $0["type"] == "pool.scaled_down" && $0["version"] == "v1" }
                #expect(drained != nil)
                #expect(sandboxesBefore.count == 2)
            }
            #expect(
                ProcessTable.pids(withArgument: marker).isEmpty,
                "adopted sandboxes were stopped too, none left behind"
            )
        }

        // MARK: Faults under load

        /// Sends load through the ingress to hello, runs `fault` once 50 requests have been
        /// answered, and goes on for `afterwards` more; returns what clients saw.
        private func underLoad(
            _ harness: HostHarness,
            _ admin: RPCClient,
            marker: String,
            afterwards: Int = 500,
            _ fault: () async throws -> Void
        ) async throws -> [LoadRecorder.Sample] {
            _ = try await admin.call("route.set", ["host": "hello.test", "app": "hello"])
            let recorder = LoadRecorder()
            let load = LoadGenerator(
                host: "127.0.0.1",
                port: try #require(harness.host.ingress?.port),
                hostHeader: "hello.test",
                recorder: recorder
            )
            let running = Task { await load.run() }
            await recorder.waitFor(count: 50)
            try await fault()
            await recorder.waitFor(count: recorder.all.count + afterwards)
            running.cancel()
            await running.value
            return recorder.all
        }

        @Test func killingTheSchedulerUnderLoadFailsNoRequest() async throws {
            let marker = "--test-\(UUID().uuidString)"
            try await withScheduledHost { harness, admin, events in
                _ = try await admin.call("app.deploy", hello("v1", marker: marker))
                let done = await events.next("event") { $0["type"] == "deploy.done" }
                #expect(done != nil)
                let sandboxes = ProcessTable.pids(withArgument: marker)
                let samples = try await underLoad(harness, admin, marker: marker) {
                    let scheduler = try #require(ProcessTable.children(withArgument: "baton-process-scheduler").first)
                    kill(scheduler, SIGKILL)
                }
                let failures = samples.compactMap(\.failure)
                #expect(samples.count > 50)
                #expect(failures.isEmpty, "\(failures.prefix(5))")
                #expect(ProcessTable.pids(withArgument: marker) == sandboxes, "no sandbox was restarted")
                // The restarted scheduler runs the next version and stops the v1 sandboxes it adopted.
                _ = try await admin.call("app.deploy", hello("v2", marker: marker + "-v2"))
                let v1Gone = await events.next("event") { $0["type"] == "pool.scaled_down" && $0["version"] == "v1" }
                var stopped = 0
                while stopped < 2,
                    await events.next("event", where: { $0["type"] == "sandbox.stopped" && $0["version"] == "v1" })
                        != nil
                {
                    stopped += 1
                }
                #expect(v1Gone != nil && stopped == 2)
            }
        }

        @Test func rollingBackToADrainingVersionUnderLoadFailsNoRequestAndKeepsServing() async throws {
            let marker = "--test-\(UUID().uuidString)"
            try await withScheduledHost { harness, admin, events in
                _ = try await admin.call("app.deploy", hello("v1", marker: marker))
                #expect(await events.next("event") { $0["type"] == "deploy.done" } != nil)
                let port = try #require(harness.host.ingress?.port)
                _ = try await admin.call("route.set", ["host": "hello.test", "app": "hello"])
                // An open stream keeps v1 draining while the operator rolls back to it.
                let stream = try await EventStreamWatcher.open(
                    host: "127.0.0.1",
                    port: port,
                    hostHeader: "hello.test",
                    path: "/events"
                )
                let recorder = LoadRecorder()
                let load = LoadGenerator(host: "127.0.0.1", port: port, hostHeader: "hello.test", recorder: recorder)
                let running = Task { await load.run() }
                await recorder.waitFor(count: 50)
                _ = try await admin.call("app.deploy", hello("v2", marker: marker + "-v2"))
                #expect(await events.next("event") { $0["type"] == "deploy.cutover" && $0["version"] == "v2" } != nil)
                await recorder.waitFor(count: recorder.all.count + 100)
                _ = try await admin.call("app.deploy", hello("v1", marker: marker))
                #expect(await events.next("event") { $0["type"] == "deploy.cutover" && $0["version"] == "v1" } != nil)
                await stream.close()
                #expect(await events.next("event") { $0["type"] == "pool.scaled_down" && $0["version"] == "v2" } != nil)
                await recorder.waitFor(count: recorder.all.count + 300)
                running.cancel()
                await running.value
                let samples = recorder.all
                let failures = samples.compactMap(\.failure)
                #expect(failures.isEmpty, "\(failures.prefix(5))")
                let status = try await admin.call("app.status", ["app": "hello"])
                #expect(status["activeVersion"] == "v1")
                let v1 = status["pools"]?.arrayValue?.first { $0["version"] == "v1" }
                #expect(v1?["desired"] == 2, "the version rolled back to still runs")
                let last = samples.suffix(100).compactMap(\.servedBy)
                #expect(!last.isEmpty && last.allSatisfy { $0 == "v1" }, "\(Set(last))")
            }
        }

        @Test func killingASandboxUnderLoadFailsOnlyWhatWasOnItAndCleanly() async throws {
            let marker = "--test-\(UUID().uuidString)"
            try await withScheduledHost { harness, admin, events in
                _ = try await admin.call("app.deploy", hello("v1", marker: marker))
                let done = await events.next("event") { $0["type"] == "deploy.done" }
                #expect(done != nil)
                let samples = try await underLoad(harness, admin, marker: marker) {
                    kill(try #require(ProcessTable.pids(withArgument: marker).first), SIGKILL)
                }
                // A request lost with the sandbox is retried when it may run twice; a POST is not,
                // and gets a clean 502. Any request that could not connect is retried, and a retry
                // past the app's budget (max(3, 20% of active)) gets 503. A response the sandbox
                // was sending when it died can only be cut off: its head is out, so the client's
                // connection closes mid-body, as nothing begun can be retried. Nothing hangs, and
                // nothing beyond what was in flight fails.
                let failures = samples.compactMap(\.failure)
                let clean: Set<String> = [
                    "POST answered 502", "GET answered 503", "PUT answered 503", "POST answered 503",
                    "socket error: stream ended at an unexpected time",
                ]
                #expect(failures.allSatisfy { clean.contains($0) }, "\(failures)")
                #expect(failures.count <= 5, "no more than the 5 requests in flight may fail: \(failures)")
                #expect(samples.count > 50)
            }
        }

        @Test func aFrozenSandboxCostsAFew504sAndNothingElse() async throws {
            let marker = "--test-\(UUID().uuidString)"
            try await withScheduledHost(responseHeaderTimeout: .seconds(1)) { harness, admin, events in
                _ = try await admin.call("app.deploy", hello("v1", marker: marker))
                let done = await events.next("event") { $0["type"] == "deploy.done" }
                #expect(done != nil)
                let frozen = try #require(ProcessTable.pids(withArgument: marker).first)
                defer { kill(frozen, SIGCONT) }
                // SIGSTOP: the kernel still accepts connections for it, but nothing answers.
                let samples = try await underLoad(harness, admin, marker: marker, afterwards: 2_000) {
                    kill(frozen, SIGSTOP)
                }
                let failures = samples.compactMap(\.failure)
                #expect(failures.allSatisfy { $0.hasSuffix("answered 504") }, "\(failures)")
                #expect(failures.count <= 10, "a few 504s, then the sandbox is out: \(failures.count)")
                #expect(samples.count > 100, "the other sandbox kept serving")
                // Whether it was taken out depends on how many requests the lease cache still
                // sent it (it prefers the least busy lease); the rule itself is tested in the ingress.
            }
        }
    }
}
