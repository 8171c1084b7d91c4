import BatonCluster
import BatonCore
import BatonEtcd
import BatonJSON
import BatonProtocol
import BatonTestSupport
import Testing

extension EtcdSuites {
    /// The launcher's store in etcd: what one leader writes, the next reads back whole, and a
    /// leader whose election key is gone writes nothing.
    @Suite("etcd store", .timeLimit(.minutes(2)))
    struct EtcdStoreTests {
        private let keys = ClusterKeys(prefix: "/s/")

        private static let spec = ServiceSpec(name: "web", instances: 2, spec: ["image": "a/b"])

        private static func request(_ app: AppName, _ version: String) -> DeployRequest {
            DeployRequest(app: app, version: version, services: [spec])
        }

        /// Runs `body` with a store fenced by a fresh leadership, and its writer.
        private func leading<T: Sendable>(
            _ etcd: EtcdClient,
            lease: EtcdLeaseID,
            _ body: (EtcdStore) async throws -> T
        ) async throws -> T {
            let leadership = try await EtcdElection(client: etcd, prefix: keys.election).campaign(
                lease: lease,
                value: "n"
            )
            let store = try await EtcdStore.open(client: etcd, keys: keys, fence: [leadership.fence])
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await store.run() }
                defer { group.cancelAll() }
                return try await body(store)
            }
        }

        @Test func whatOneLeaderWritesTheNextReadsBackWholeAndInOrder() async throws {
            try await withEtcd { etcd, _ in
                let first = try await etcd.grant(ttl: .seconds(60))
                let pools = ["web": PoolID(rawValue: "p/1")]
                let written: [StoredChange] = [
                    .app(StoredApp(name: "shop/eu", phase: .serving, activeVersion: "v1", activePools: pools)),
                    .version(StoredVersion(app: "shop/eu", version: "v1", services: [Self.spec])),
                    .pool(
                        StoredPool(
                            id: "p/1",
                            app: "shop/eu",
                            version: "v1",
                            spec: Self.spec,
                            desired: 2,
                            stopDrain: .seconds(30)
                        )
                    ),
                    .deployment(
                        StoredDeployment(
                            id: "d-2",
                            request: Self.request("shop/eu", "v1"),
                            state: .done,
                            reason: nil,
                            servicePools: pools,
                            waitPools: pools,
                            startedPools: ["p/1"],
                            failures: []
                        )
                    ),
                    .deployment(
                        StoredDeployment(
                            id: "d-10",
                            request: Self.request("shop/eu", "v2"),
                            state: .waiting,
                            reason: "waits",
                            servicePools: [:],
                            waitPools: [:],
                            startedPools: [],
                            failures: ["one"]
                        )
                    ),
                    .route(key: "shop.test", route: RouteSpec(host: "shop.test", app: "shop/eu")),
                    .route(key: "gone.test", route: RouteSpec(host: "gone.test", app: "shop/eu")),
                    .route(key: "gone.test", route: nil),
                ]
                try await leading(etcd, lease: first) { store in
                    #expect(try store.load() == StoredState())
                    store.enqueue(written)
                    try await store.flush()
                }
                try await etcd.revoke(first)
                let state = try await leading(etcd, lease: try await etcd.grant(ttl: .seconds(60))) { try $0.load() }
                #expect(state.apps.map(\.name) == ["shop/eu"])
                #expect(state.apps.first?.activePools == pools)
                #expect(state.versions.first?.services == [Self.spec])
                #expect(state.pools.first?.desired == 2)
                #expect(state.deployments.map(\.id) == ["d-2", "d-10"], "in the order they were made, not by name")
                #expect(state.deployments.last?.failures == ["one"])
                #expect(state.routes == ["shop.test": RouteSpec(host: "shop.test", app: "shop/eu")])
            }
        }

        @Test func removingAnAppRemovesItsVersionsPoolsAndDeployments() async throws {
            try await withEtcd { etcd, _ in
                let lease = try await etcd.grant(ttl: .seconds(60))
                try await leading(etcd, lease: lease) { store in
                    store.enqueue([
                        .app(StoredApp(name: "a", phase: .serving, activeVersion: nil, activePools: [:])),
                        .app(StoredApp(name: "b", phase: .serving, activeVersion: nil, activePools: [:])),
                        .version(StoredVersion(app: "a", version: "v1", services: [Self.spec])),
                        .pool(StoredPool(id: "p1", app: "a", version: "v1", spec: Self.spec, desired: 1)),
                        .pool(StoredPool(id: "p2", app: "b", version: "v1", spec: Self.spec, desired: 1)),
                    ])
                    try await store.flush()
                    store.enqueue([.removed(.app("a"))])
                    try await store.flush()
                }
                let left = try await etcd.get(.prefix(keys.desired)).kvs.map(\.key)
                #expect(left == [keys.app("b"), keys.pool("p2")])
            }
        }

        @Test func aBatchLargerThanEtcdTakesInOneTransactionIsWrittenWhole() async throws {
            try await withEtcd { etcd, _ in
                let lease = try await etcd.grant(ttl: .seconds(60))
                try await leading(etcd, lease: lease) { store in
                    store.enqueue(
                        (0..<300).map { .route(key: "h\($0).test", route: RouteSpec(host: "h\($0).test", app: "a")) }
                    )
                    try await store.flush()
                }
                #expect(try await etcd.get(.prefix(keys.desired)).kvs.count == 300)
            }
        }

        @Test func aLeaderWhoseLeaseIsGoneWritesNothingAndEveryFlushThrows() async throws {
            try await withEtcd { etcd, _ in
                let lease = try await etcd.grant(ttl: .seconds(60))
                try await leading(etcd, lease: lease) { store in
                    store.enqueue([.route(key: "a.test", route: RouteSpec(host: "a.test", app: "a"))])
                    try await store.flush()
                    try await etcd.revoke(lease)  // as if it had expired: the election key goes with it
                    store.enqueue([.route(key: "b.test", route: RouteSpec(host: "b.test", app: "b"))])
                    await #expect(throws: EtcdStore.StoreFenced.self) { try await store.flush() }
                    store.enqueue([.route(key: "c.test", route: RouteSpec(host: "c.test", app: "c"))])
                    await #expect(throws: EtcdStore.StoreFenced.self) { try await store.flush() }
                }
                #expect(try await etcd.get(.prefix(keys.desired)).kvs.map(\.key) == [keys.route("a.test")])
            }
        }
    }
}
