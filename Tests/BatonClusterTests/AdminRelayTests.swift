import BatonEtcd
import BatonJSON
import BatonRPC
import BatonTestSupport
import Synchronization
import Testing

@testable import BatonCluster

extension EtcdSuites {
    /// Admin calls a follower forwards: the leader runs each once and answers; a call made
    /// while no node leads waits for the next leader; with none in time the follower refuses
    /// it (3007) and takes it back.
    @Suite("Admin relay", .timeLimit(.minutes(1)))
    struct AdminRelayTests {
        private let keys = ClusterKeys(prefix: "/a/")

        private func relay(_ etcd: EtcdClient, _ node: String, timeout: Duration = .seconds(20)) -> AdminRelay {
            AdminRelay(client: etcd, keys: keys, node: node, timeout: timeout)
        }

        @Test func theLeaderRunsAForwardedCallOnceAndAnswersIt() async throws {
            try await withEtcd { etcd, _ in
                let lease = try await etcd.grant(ttl: .seconds(30))
                let runs = Mutex<[String]>([])
                let leader = Task {
                    await relay(etcd, "a").serve { method, params in
                        runs.withLock { $0.append(method) }
                        guard method == "app.deploy" else { return .failure(RPCError(code: 3003, message: "refused")) }
                        return .success(["deployment": params["app"] ?? .null])
                    }
                }
                let follower = relay(etcd, "b")
                #expect(
                    try await follower.forward("app.deploy", ["app": "shop"], lease: lease) == ["deployment": "shop"]
                )
                await #expect(throws: RPCError(code: 3003, message: "refused")) {
                    try await follower.forward("app.pause", ["app": "shop"], lease: lease)
                }
                #expect(runs.withLock { $0 } == ["app.deploy", "app.pause"])
                leader.cancel()
                await leader.value
                #expect(
                    try await etcd.get(.prefix(keys.prefix + "admin/")).kvs.isEmpty,
                    "requests and answers are gone"
                )
            }
        }

        @Test func aCallMadeWhileNoNodeLeadsIsRunByTheNextLeader() async throws {
            try await withEtcd { etcd, _ in
                let lease = try await etcd.grant(ttl: .seconds(30))
                let follower = relay(etcd, "b")
                async let answer = follower.forward("route.set", ["host": "h"], lease: lease)
                // The request is in etcd before any node leads.
                while try await etcd.get(.prefix(keys.adminRequests)).kvs.isEmpty {}
                let leader = Task { await relay(etcd, "a").serve { _, _ in .success(["ran": true]) } }
                #expect(try await answer == ["ran": true])
                leader.cancel()
                await leader.value
            }
        }

        @Test func withNoLeaderInTimeTheFollowerRefusesTheCallAndTakesItBack() async throws {
            try await withEtcd { etcd, _ in
                let lease = try await etcd.grant(ttl: .seconds(30))
                let follower = relay(etcd, "b", timeout: .milliseconds(300))
                await #expect {
                    try await follower.forward("route.set", ["host": "h"], lease: lease)
                } throws: { error in
                    (error as? RPCError)?.code == 3007
                }
                #expect(try await etcd.get(.prefix(keys.adminRequests)).kvs.isEmpty, "no later leader runs it")
            }
        }
    }
}
