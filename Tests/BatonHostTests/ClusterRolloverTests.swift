import BatonJSON
import BatonLoad
import BatonRPC
import BatonTestSupport
import Foundation
import Testing

extension ProcessHeavySuites.ClusterServeTests {
    /// GETs, POSTs and PUTs through each node's ingress, one recorder per node.
    struct SpreadLoad {
        let recorders: [LoadRecorder]
        let tasks: [Task<Void, Never>]

        /// Starts the load and returns once every node has answered some of it.
        static func start(through nodes: [Running]) async -> SpreadLoad {
            let recorders = nodes.map { _ in LoadRecorder() }
            let tasks = zip(nodes, recorders).map { node, recorder in
                var load = LoadGenerator(
                    host: "127.0.0.1",
                    port: node.node.port,
                    hostHeader: "hello.localhost",
                    recorder: recorder
                )
                (load.getWorkers, load.pause) = (1, .milliseconds(5))  // three loads share two cores
                return Task { await load.run() }
            }
            for recorder in recorders { await recorder.waitFor(count: 20) }
            return SpreadLoad(recorders: recorders, tasks: tasks)
        }

        /// Ends the load; every request it made.
        func stop() async -> [LoadRecorder.Sample] {
            for task in tasks { task.cancel() }
            for task in tasks { await task.value }
            return recorders.flatMap(\.all)
        }
    }

    /// Three etcd members and three nodes; load through every node's ingress while the leader
    /// rolls hello over ten times, and one etcd member is killed half way: no request fails, no
    /// POST runs twice, and every node serves each new version within two seconds of the
    /// leader's cutover.
    @Test func tenRolloversUnderLoadOnThreeNodesLoseNothing() async throws {
        let ledger = TemporaryDirectory()
        defer { ledger.remove() }
        let env = ["ECHO_LEDGER": ledger.file("posts")]
        try await EtcdCluster.running(members: 3) { etcd in
            try await nodes(["a", "b", "c"], on: etcd.endpoints, env: env) { running, marker in
                let load = await SpreadLoad.start(through: running)
                let admin = try await running[0].node.admin()
                var events = NotificationReader(admin)
                _ = try await admin.call("events.watch")
                var skews: [Duration] = []
                for index in 2...11 {
                    if index == 7 { try await etcd.kill(2) }  // a minority of etcd lost: nothing changes
                    let version = JSON.string("v\(index)")
                    _ = try await admin.call("app.deploy", hello("v\(index)", marker: marker, env: env))
                    _ = await events.next("event") { $0["type"] == "deploy.cutover" && $0["version"] == version }
                    let cutover = ContinuousClock.now
                    for (node, recorder) in zip(running, load.recorders) {
                        // This node's first GET answered by the new version after the cutover.
                        func first() -> LoadRecorder.Sample? {
                            recorder.all.first { $0.servedBy == version.stringValue && $0.finished >= cutover }
                        }
                        while first() == nil, ContinuousClock.now - cutover < .seconds(30) {
                            try Task.checkCancellation()
                            await recorder.waitFor(count: recorder.all.count + 1)
                        }
                        guard let served = first() else {
                            // What the node's broker holds says why: the sandboxes, their states and nodes.
                            let inspector = try await node.node.admin()
                            let status = try await inspector.call("app.status", ["app": "hello"])
                            await inspector.close()
                            Issue.record(
                                "\(node.node.name) did not serve \(version) within 30 s; app.status: \(status)"
                            )
                            throw CancellationError()
                        }
                        skews.append(served.finished - cutover)
                    }
                    _ = await events.next("event") { $0["type"] == "deploy.done" && $0["version"] == version }
                }
                await admin.close()
                let samples = await load.stop()

                let failures = samples.compactMap(\.failure)
                #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(5))")
                let posts = samples.filter { $0.kind == "POST" }.count
                let runs = try String(contentsOfFile: env["ECHO_LEDGER"]!, encoding: .utf8).split(separator: "\n")
                #expect(Set(runs).count == runs.count, "a POST ran twice")
                #expect(runs.count == posts, "\(posts) POSTs answered, \(runs.count) run")
                #expect(skews.allSatisfy { $0 < .seconds(2) }, "a node served the new version \(skews.max()!) late")
                #expect(samples.count > 300)
            }
        }
    }

    /// The leader is killed while a deploy waits for sandboxes that take 3 s to start: another
    /// node leads within the lease's TTL, resumes the deploy and completes it, and no request
    /// through the surviving nodes fails.
    @Test func aLeaderKilledDuringADeployLeavesItToTheNextLeader() async throws {
        let slowStart = [
            "sh", "-c", #"sleep 3; exec python3 -u "$0" "$1""#, BatonProcess.repositoryPath("examples/hello/app.py"),
        ]
        try await EtcdCluster.running(members: 3) { etcd in
            try await nodes(["a", "b", "c"], on: etcd.endpoints) { running, marker in
                let (a, survivors) = (running[0], Array(running.dropFirst()))
                let load = await SpreadLoad.start(through: survivors)
                let admin = try await a.node.admin()
                var events = NotificationReader(admin)
                _ = try await admin.call("events.watch")
                _ = try await admin.call("app.deploy", hello("v2", marker: marker, command: slowStart + [marker]))
                _ = await events.next("event") { $0["type"] == "deploy.started" && $0["version"] == "v2" }
                try a.process.send(signal: .kill)
                let killed = ContinuousClock.now

                let said = try await survivors[0].log.waitFor(any: [Self.tookTheLead, "node c leads"])
                let leader = said.contains(Self.tookTheLead) ? survivors[0] : survivors[1]
                if leader.node.name == "c" { try await leader.log.waitFor(Self.tookTheLead) }
                let tookOver = ContinuousClock.now - killed
                let next = try await leader.node.admin()
                var nextEvents = NotificationReader(next)
                _ = try await next.call("events.watch")
                if try await next.call("app.status", ["app": "hello"])["activeVersion"] != "v2" {
                    _ = await nextEvents.next("event") { $0["type"] == "deploy.done" && $0["version"] == "v2" }
                }
                await next.close()
                await admin.close()
                for survivor in survivors { #expect(try await survivor.node.get().hasPrefix("hello from v2")) }
                let samples = await load.stop()

                let failures = samples.compactMap(\.failure)
                #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(5))")
                // The lease is 3 s; the next leader campaigns as soon as etcd lets the old key go.
                #expect(tookOver < .seconds(6), "the next leader took \(tookOver)")
            }
        }
    }
}
