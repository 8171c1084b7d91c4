import BatonContract
import BatonJSON
import BatonPlugins
import BatonRPC
import BatonTestSupport
import Foundation
import Subprocess
import Testing

extension ProcessHeavySuites {
    /// Two `baton serve --cluster` nodes on one etcd, as real processes with the built-in
    /// scheduler and examples/hello: both serve what the leader deploys, a follower refuses
    /// to deploy, and when the leader is killed the other leads and deploys.
    @Suite("Cluster of hosts", .serialized, .timeLimit(.minutes(3)))
    struct ClusterServeTests {
        /// One node: its directory, ports and socket.
        struct Node {
            let name: String
            let directory = TemporaryDirectory()
            let port: Int
            var socket: String { directory.file("baton.sock") }

            init(_ name: String) throws {
                self.name = name
                port = try FreePort.pick()
            }

            func arguments(endpoints: [String]) -> [String] {
                [
                    "--socket", socket, "--state", directory.file("state"), "--http", "127.0.0.1:\(port)",
                    "--cluster", endpoints.joined(separator: ","), "--node", name, "--set", "cluster.leaseTTLMs=3000",
                ]
            }

            func admin() async throws -> RPCClient {
                let client = try await RPCClient.connect(socketPath: socket)
                try await client.hello(role: .admin, client: RPCProgramInfo(name: "cluster-test", version: "1"))
                return client
            }

            /// Deploys `version` of hello through this node and waits until it is done.
            func deploy(_ version: String, marker: String, env: [String: String] = [:]) async throws {
                let admin = try await admin()
                do {
                    var events = NotificationReader(admin)
                    _ = try await admin.call("events.watch")
                    _ = try await admin.call("app.deploy", hello(version, marker: marker, env: env))
                    _ = try await admin.call("route.set", ["host": "hello.localhost", "app": "hello"])
                    _ = await events.next("event") {
                        $0["type"] == "deploy.done" && $0["version"]?.stringValue == version
                    }
                } catch {
                    await admin.close()
                    throw error
                }
                await admin.close()
            }

            func get() async throws -> String {
                try await TestHTTPClient.send(port: port, host: "hello.localhost").body
            }
        }

        /// Expects `node` to answer from `version` within a hundred requests, every answer
        /// before it from another version: a cutover reaches a node's ingress a moment after
        /// the node has it (a lease cached on the old version's sandbox serves until the
        /// revocation reaches the cache), and a follower has it a moment after the leader.
        private func expectAnswers(
            from version: String,
            _ node: Node,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            var seen: [String] = []
            while seen.count < 100, seen.last?.hasPrefix("hello from \(version)") != true {
                seen.append(try await node.get())
            }
            let reached = seen.last?.hasPrefix("hello from \(version)") == true
            #expect(
                reached && seen.allSatisfy { $0.hasPrefix("hello from v") },
                "\(seen)",
                sourceLocation: sourceLocation
            )
        }

        static let listening = ["ingress listening", "rpc socket listening"]
        /// What a node logs when it becomes the leader.
        static let tookTheLead = "took the lead of the cluster"

        /// One running node: its setup, its process and its log.
        struct Running {
            let node: Node
            let process: Execution<NoInput, DiscardedOutput, SequenceOutput>
            let log: ServeLog
        }

        /// Starts a, which leads, then b, on `endpoints`; deploys v1 of hello through a and waits
        /// until b copied it; runs `body` with both and the marker of their sandboxes.
        private func twoNodes(
            on endpoints: [String],
            _ body: (Running, Running, String) async throws -> Void
        ) async throws {
            try await nodes(["a", "b"], on: endpoints) { try await body($0[0], $0[1], $1) }
        }

        /// Starts the first of `names`, which leads, then the others, on `endpoints` (or those
        /// `reaching` names for a node); deploys v1 of hello (with `env`) through the first and
        /// waits until every other copied it; runs `body` with them all and the marker of their
        /// sandboxes; stops what still runs, and kills what the sandboxes left.
        func nodes(
            _ names: [String],
            on endpoints: [String],
            reaching: [String: [String]] = [:],
            env: [String: String] = [:],
            _ body: ([Running], String) async throws -> Void
        ) async throws {
            let marker = "--test-\(UUID().uuidString)"
            defer { for pid in ProcessTable.pids(withArgument: marker) { kill(pid, SIGKILL) } }
            let nodes = try names.map(Node.init)
            defer { for node in nodes { node.directory.remove() } }
            try await serve(nodes[...], on: { reaching[$0] ?? endpoints }, running: []) { running in
                try await running[0].node.deploy("v1", marker: marker, env: env)
                for follower in running.dropFirst() { try await follower.log.waitFor("copied the leader's cutover") }
                try await body(running, marker)
            }
        }

        /// Starts the first of `rest` and the others inside it, so that each node's process is
        /// stopped before the one that started it returns; `body` runs once all have joined.
        private func serve(
            _ rest: ArraySlice<Node>,
            on endpoints: (String) -> [String],
            running: [Running],
            _ body: ([Running]) async throws -> Void
        ) async throws {
            guard let node = rest.first else { return try await body(running) }
            let arguments = node.arguments(endpoints: endpoints(node.name))
            _ = try await BatonProcess.serving(arguments, plugins: true) { process, log in
                try await log.waitFor(all: Self.listening + [running.isEmpty ? Self.tookTheLead : "joined the cluster"])
                try await serve(
                    rest.dropFirst(),
                    on: endpoints,
                    running: running + [Running(node: node, process: process, log: log)],
                    body
                )
                try? process.send(signal: .terminate)  // gone already when the test killed it
                _ = try? await log.rest()
                return true
            }
        }

        @Test func bothNodesServeTheLeadersDeployAndTheOtherLeadsOnceTheLeaderIsKilled() async throws {
            try await EtcdCluster.running { etcd in
                try await twoNodes(on: etcd.endpoints) { a, b, marker in
                    #expect(try await a.node.get().hasPrefix("hello from v1"))
                    #expect(try await b.node.get().hasPrefix("hello from v1"))

                    let follower = try await b.node.admin()
                    let status = try await follower.call("app.status", ["app": "hello"])
                    let schemas = try SchemaValidator(directory: BatonProcess.repositoryPath("protocol/schemas"))
                    #expect(schemas.problems(status, file: "app.status.result.schema.json") == [])
                    let cluster = status["cluster"]
                    #expect(cluster?["node"] == "b" && cluster?["leader"] == "a" && cluster?["nodes"] == ["a", "b"])
                    // v1 runs two sandboxes: one on each node.
                    #expect(cluster?["perNode"]?.arrayValue?.map { $0["sandboxes"] } == [1, 1])
                    // b's own sandbox was in its broker before the cutover; a's comes through etcd.
                    // (a may have started both before it saw b, then stopped one.)
                    let running = (status["sandboxes"]?.arrayValue ?? []).filter {
                        $0["state"] != "stopped" && $0["state"] != "failed"
                    }
                    #expect(running.compactMap { $0["node"]?.stringValue }.sorted() == ["a", "b"])
                    // A deploy made on the follower is forwarded to the leader, which runs it
                    // once: sent again with its requestId, it is the same deploy.
                    let leader = try await a.node.admin()
                    var events = NotificationReader(leader)
                    _ = try await leader.call("events.watch")
                    let deploy = hello("v2", marker: marker).setting("requestId", to: "deploy-v2")
                    let first = try await follower.call("app.deploy", deploy)
                    #expect(try await follower.call("app.deploy", deploy)["deployment"] == first["deployment"])
                    _ = await events.next("event") { $0["type"] == "deploy.done" && $0["version"] == "v2" }
                    await leader.close()
                    await follower.close()
                    try await expectAnswers(from: "v2", b.node)

                    try a.process.send(signal: .kill)
                    try await b.log.waitFor(Self.tookTheLead)
                    try await b.node.deploy("v3", marker: marker)
                    try await expectAnswers(from: "v3", b.node)
                }
            }
        }

        /// Opens a stream of server-sent events through `node`'s ingress, one every 50 ms, on
        /// the version serving now, and reads its first event.
        private func stream(through node: Node) async throws -> RawTCPClient {
            let stream = try await RawTCPClient.connect(port: node.port)
            try await stream.send("GET /events?interval_ms=50 HTTP/1.1\r\nHost: hello.localhost\r\n\r\n")
            #expect(try await stream.read(until: "tick 0\n\n").contains("data: v1"))
            return stream
        }

        /// Rolls v1 over to v2 through a, the leader, while b's ingress carries a stream on v1;
        /// the stream outlives the cutover, then `end` ends b's part; the leader's drain then
        /// ends by itself, long before its timeout: v1 is scaled down as drained, not timed out.
        private func rollOver(
            _ a: Running,
            _ b: Running,
            marker: String,
            ending end: (RawTCPClient) async throws -> Void
        ) async throws {
            let stream = try await stream(through: b.node)
            let follower = try await b.node.admin()
            let status = try await follower.call("app.status", ["app": "hello"])
            let own = status["cluster"]?["perNode"]?.arrayValue?.first { $0["node"] == "b" }
            #expect(own?["inFlight"] == 1, "b counts the stream it carries")
            await follower.close()
            let admin = try await a.node.admin()
            var events = NotificationReader(admin)
            _ = try await admin.call("events.watch")
            _ = try await admin.call("app.deploy", hello("v2", marker: marker, drainTimeoutMs: 600_000))
            _ = await events.next("event") { $0["type"] == "deploy.cutover" && $0["version"] == "v2" }
            for _ in 0..<20 {  // a second of ticks past the cutover: v1 is still there for b's stream
                #expect(try await stream.read(until: "\n\n").contains("data: v1"))
            }
            try await end(stream)
            let scaled = await events.next("event") { $0["type"] == "pool.scaled_down" && $0["version"] == "v1" }
            #expect(scaled?["reason"] == "drained")
            _ = await events.next("event") { $0["type"] == "deploy.done" && $0["version"] == "v2" }
            await admin.close()
            await stream.close()
        }

        @Test func aFollowersStreamKeepsTheOldVersionUntilItEnds() async throws {
            try await EtcdCluster.running { etcd in
                try await twoNodes(on: etcd.endpoints) { a, b, marker in
                    try await rollOver(a, b, marker: marker) { await $0.close() }
                    try await expectAnswers(from: "v2", b.node)
                }
            }
        }

        @Test func aFollowerKilledWhileItHoldsTheOldVersionEndsItsPartOfTheDrainWithItsLease() async throws {
            try await EtcdCluster.running { etcd in
                try await twoNodes(on: etcd.endpoints) { a, b, marker in
                    try await rollOver(a, b, marker: marker) { _ in try b.process.send(signal: .kill) }
                    try await expectAnswers(from: "v2", a.node)
                }
            }
        }

        /// Every etcd member stopped: both nodes serve load on what they knew with no failure
        /// and refuse changes with an error that names etcd; once etcd starts again on its data,
        /// both join again without a restart and the next deploy reaches both.
        @Test func withoutEtcdBothNodesKeepServingAndRefuseChangesNamingEtcdUntilItIsBack() async throws {
            try await EtcdCluster.running { etcd in
                try await twoNodes(on: etcd.endpoints) { a, b, marker in
                    let load = await SpreadLoad.start(through: [a, b])
                    try await etcd.stop(0)
                    // Past the lease: the leader has stepped down, and both still serve.
                    try await a.log.waitFor("lost its lease in the cluster")
                    try await b.log.waitFor("lost its lease in the cluster")
                    #expect(try await a.node.get().hasPrefix("hello from v1"))
                    #expect(try await b.node.get().hasPrefix("hello from v1"))
                    let admin = try await a.node.admin()
                    for (method, parameters) in [
                        ("route.set", ["host": "other.localhost", "app": "hello"]),
                        ("app.deploy", hello("v2", marker: marker)),
                    ] {
                        do {
                            _ = try await admin.call(method, parameters)
                            Issue.record("a node without etcd took \(method)")
                        } catch let error as RPCError {
                            #expect(error.code == 3007)
                            #expect(error.message.contains("etcd"), "the refusal names etcd: \(error.message)")
                        }
                    }
                    await admin.close()
                    let failures = await load.stop().compactMap(\.failure)
                    #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(5))")

                    try await etcd.start(0)
                    try await a.log.waitFor("joined the cluster")
                    try await b.log.waitFor("joined the cluster")
                    try await deployOnTheLeader("v2", marker: marker, of: a, b)
                    try await expectAnswers(from: "v2", a.node)
                    try await expectAnswers(from: "v2", b.node)
                }
            }
        }

        /// Deploys `version` through whichever of `a` and `b` leads, and returns once the other
        /// serves it too. A lease granted across a heal may be nearly spent on arrival (its
        /// time counts from the request), so the lead may change hands once more: each time a
        /// says who leads, that node is tried, until one takes the deploy. When the lead moves
        /// after a cutover but before its caller heard of it, the node tried next takes the
        /// same version again with nothing to copy, and the other made the cutover itself.
        private func deployOnTheLeader(_ version: String, marker: String, of a: Running, _ b: Running) async throws {
            while true {
                let aNow = try await a.log.waitFor(any: [Self.tookTheLead, "node b leads"])
                let (leader, other) = aNow.contains(Self.tookTheLead) ? (a, b) : (b, a)
                do {
                    try await leader.node.deploy(version, marker: marker)
                } catch is RPCError {
                    continue  // it lost the lead meanwhile; deploying the same version again is safe
                }
                _ = try await other.log.waitFor(any: [
                    "copied the leader's cutover", "version=\(version) [BatonCore] deploy.cutover",
                ])
                return
            }
        }

        @Test func nodesCutOffFromEtcdServeOnAndTakeUpTheClusterAgainWhenItComesBack() async throws {
            try await EtcdCluster.running { etcd in
                let etcdPort = try #require(URLComponents(string: etcd.endpoints[0])?.port)
                let relay = try await TCPRelay.start(to: etcdPort)
                try await twoNodes(on: ["http://127.0.0.1:\(relay.port)"]) { a, b, marker in
                    let load = await SpreadLoad.start(through: [a, b])
                    relay.cut()  // a partition between both nodes and etcd: no leader, no change
                    try await a.log.waitFor("lost its lease in the cluster")
                    try await b.log.waitFor("lost its lease in the cluster")
                    #expect(try await a.node.get().hasPrefix("hello from v1"))
                    #expect(try await b.node.get().hasPrefix("hello from v1"))
                    let failures = await load.stop().compactMap(\.failure)
                    #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(5))")

                    relay.restore()  // no restart: each node joins again and one leads
                    try await a.log.waitFor("joined the cluster")
                    try await deployOnTheLeader("v2", marker: marker, of: a, b)
                    try await expectAnswers(from: "v2", a.node)
                    try await expectAnswers(from: "v2", b.node)
                }
                await relay.stop()
            }
        }

        /// Only the leader is cut off from etcd: it stops leading within its lease and serves on
        /// what it knew; the other node leads, deploys, and serves load throughout with no
        /// failure; once the partition heals, the old leader joins again, without a restart,
        /// and serves the new version. (The cut-off node's own requests are not counted: the new
        /// leader no longer waits for it, so those in flight on the old version's sandboxes of
        /// other nodes may be cut when it scales them down; docs/cluster.md, "Failures".)
        @Test func theLeaderCutOffAloneHandsTheLeadOverAndCatchesUpWhenItHeals() async throws {
            try await EtcdCluster.running { etcd in
                let etcdPort = try #require(URLComponents(string: etcd.endpoints[0])?.port)
                let relay = try await TCPRelay.start(to: etcdPort)
                let reaching = ["a": ["http://127.0.0.1:\(relay.port)"]]
                try await nodes(["a", "b"], on: etcd.endpoints, reaching: reaching) { running, marker in
                    let (a, b) = (running[0], running[1])
                    let load = await SpreadLoad.start(through: [b])
                    relay.cut()
                    try await a.log.waitFor("lost its lease in the cluster")
                    try await b.log.waitFor(Self.tookTheLead)
                    try await b.node.deploy("v2", marker: marker)
                    #expect(try await a.node.get().hasPrefix("hello from v1"), "a serves what it knew")

                    relay.restore()  // a copies what it missed (its watch may come back before its lease)
                    try await a.log.waitFor("copied the leader's cutover")
                    try await expectAnswers(from: "v2", a.node)
                    let failures = await load.stop().compactMap(\.failure)
                    // Everything b said but its answered requests: those that failed, and what
                    // became of the sandboxes meanwhile.
                    let told = b.log.written.filter { !$0.contains("status=200") }
                    #expect(
                        failures.isEmpty,
                        "\(failures.count) failed: \(failures.prefix(5)); b said: \(told.suffix(40).joined(separator: "\n"))"
                    )
                }
                await relay.stop()
            }
        }
    }
}
