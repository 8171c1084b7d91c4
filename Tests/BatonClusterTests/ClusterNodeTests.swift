import BatonCluster
import BatonCore
import BatonEtcd
import BatonProtocol
import BatonTestSupport
import Logging
import Testing

/// Two nodes of one cluster in one process, each with its own broker and launcher, against a
/// real etcd: one leads, the other copies its state and serves the first one's sandboxes, and
/// takes the lead when the first one leaves.
extension EtcdSuites {
    @Suite("Cluster nodes", .timeLimit(.minutes(1)))
    struct ClusterNodeTests {
        private struct Passing: ReadinessProbe {
            func isReady(url: String, health: HealthCheck?) async -> Bool { true }
        }

        private struct Node {
            let broker: LeaseBroker
            let launcher: Launcher
            let cluster: ClusterNode

            init(_ name: String, endpoints: [String]) {
                var logger = Logger(label: "cluster-test-\(name)")
                logger.logLevel = .critical
                let clock = SystemClock()
                broker = LeaseBroker(clock: clock, probe: Passing(), logger: logger)
                launcher = Launcher(broker: broker, clock: clock, logger: logger, role: .following(why: "it starts"))
                cluster = ClusterNode(
                    configuration: ClusterConfiguration(
                        endpoints: endpoints,
                        node: name,
                        keys: ClusterKeys(prefix: "/c/"),
                        // A loaded machine must not take a lease for lost; the leader leaves by revoking it.
                        leaseTTL: .seconds(10),
                        requestTimeout: testCallTimeout
                    ),
                    launcher: launcher,
                    broker: broker,
                    logger: logger
                )
            }

            /// Returns once this node's role becomes `role`.
            func becomes(_ role: LauncherRole, _ roles: inout AsyncStream<LauncherRole>.Iterator) async {
                while let next = await roles.next(), next != role {}
            }
        }

        private static let web = ServiceSpec(name: "web", instances: 1, spec: ["image": "a"])

        @Test func theFollowerServesTheLeadersVersionAndLeadsOnceTheLeaderLeaves() async throws {
            try await EtcdCluster.running { etcd in
                let a = Node("a", endpoints: etcd.endpoints)
                let b = Node("b", endpoints: etcd.endpoints)
                var rolesOfA = a.cluster.roles.makeAsyncIterator()
                var rolesOfB = b.cluster.roles.makeAsyncIterator()
                await withTaskGroup(of: Void.self) { nodes in
                    nodes.addTask { await a.cluster.run() }
                    nodes.addTask { await a.launcher.followSignals() }
                    await a.becomes(.leading, &rolesOfA)
                    // Apart from a's group, which ends with a; cancelled and awaited at the end.
                    let runningB = Task {
                        async let signals: Void = b.launcher.followSignals()
                        await b.cluster.run()
                        await signals
                    }
                    await b.becomes(.following(why: "node a leads"), &rolesOfB)
                    await #expect(throws: CoreError.notLeading("node a leads")) {
                        _ = try await b.launcher.deploy(DeployRequest(app: "shop", version: "v1", services: [Self.web]))
                    }

                    // a deploys; its own scheduler's sandbox gets ready; a shares the report.
                    var events = a.launcher.events.subscribe().makeAsyncIterator()
                    let deployment = try? await a.launcher.deploy(
                        DeployRequest(app: "shop", version: "v1", services: [Self.web])
                    )
                    #expect(deployment != nil)
                    let pool = try? await a.launcher.status(app: "shop").pools.first?.id
                    let ready = SandboxReport(
                        sandbox: "a-1",
                        pool: pool ?? "none",
                        state: .ready,
                        url: "http://127.0.0.1:9"
                    )
                    try? await a.broker.report(ready, from: "fake")
                    a.cluster.reported(ready)
                    while let event = await events.next(), event.type != .deployDone {}

                    // b copies the state and leases a's sandbox from its own broker.
                    for await _ in b.cluster.copies
                    where (try? await b.launcher.status(app: "shop"))?.activeVersion == "v1" { break }
                    let lease = try? await b.broker.acquire(app: "shop", service: "web", wait: .seconds(5))
                    #expect(lease?.sandbox == "a-1")
                    #expect((try? await b.launcher.status(app: "shop"))?.activeVersion == "v1")

                    // a leaves; b leads, and what a wrote is b's to change.
                    nodes.cancelAll()
                    await b.becomes(.leading, &rolesOfB)
                    let second = try? await b.launcher.deploy(
                        DeployRequest(app: "shop", version: "v2", services: [Self.web])
                    )
                    #expect(second != nil && second != deployment, "b numbers on from what a stored")
                    runningB.cancel()
                    await runningB.value
                }
            }
        }
    }
}
