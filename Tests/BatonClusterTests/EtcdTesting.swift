import BatonEtcd
import BatonTestSupport
import Testing

/// The suites that start etcd take turns: each member syncs its log, and several starting at
/// once beside the rest of the tests on 2 cores made single calls take seconds.
@Suite(.serialized) enum EtcdSuites {}

/// How long a test's call to etcd may take: the tests check what etcd answers, not how fast.
let testCallTimeout = Duration.seconds(10)

/// Runs `body` with a client of `cluster`, shut down whether `body` returns or throws (a
/// client left running stops the test process).
func withEtcd<T: Sendable>(
    _ cluster: EtcdCluster,
    timeout: Duration = testCallTimeout,
    _ body: (EtcdClient) async throws -> T
) async throws -> T {
    let client = EtcdClient(endpoints: cluster.endpoints, timeout: timeout)
    let result = await outcome { try await body(client) }
    try await client.shutdown()
    return try result.get()
}

/// What `body` returned or threw.
func outcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// A single etcd member and a client of it, for the duration of `body`.
func withEtcd<T: Sendable>(_ body: (EtcdClient, EtcdCluster) async throws -> T) async throws -> T {
    try await EtcdCluster.running { cluster in try await withEtcd(cluster) { try await body($0, cluster) } }
}
