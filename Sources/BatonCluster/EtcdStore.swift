import BatonCore
import BatonEtcd
import BatonJSON
import NIOConcurrencyHelpers

/// The launcher's store in etcd, for the node that leads (docs/cluster.md). Every batch of
/// changes is one transaction fenced by the leader's election key: once this node no longer
/// leads, nothing it queues is written, and every flush throws.
public final class EtcdStore: LauncherStore {
    private let client: any EtcdKV
    private let keys: ClusterKeys
    private let fence: [EtcdCompare]
    private let snapshot: StoredState
    /// The versions of every app, and the app of every pool and deployment, so that removing
    /// an app removes them too, key by key.
    private let owners: NIOLockedValueBox<Owners>
    private let queue = StoreWriteQueue()
    private let committed = NIOLockedValueBox<Int64>(0)
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    /// etcd refuses a transaction of more operations than this (its `--max-txn-ops`); a
    /// larger batch is written as several, each fenced, in order.
    static let maxOperations = 128

    package struct Owners {
        var versions: [AppName: Set<String>] = [:]
        var pools: [PoolID: AppName] = [:]
        /// Each deployment's app and its place in the order deployments were made.
        var deployments: [DeploymentID: (app: AppName, made: Int64)] = [:]
        var lastMade: Int64 = 0
    }

    /// Why a change was not written.
    public struct StoreFenced: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the stored state from etcd; `fence` is the leader's, which every write carries.
    public static func open(client: any EtcdKV, keys: ClusterKeys, fence: [EtcdCompare]) async throws -> EtcdStore {
        let (state, owners) = try read(try await client.get(.prefix(keys.desired), options: .init()).kvs, keys: keys)
        return EtcdStore(client: client, keys: keys, fence: fence, snapshot: state, owners: owners)
    }

    /// The stored state the keys under `desired/` hold, and who owns what in it.
    package static func read(_ kvs: [EtcdKeyValue], keys: ClusterKeys) throws -> (StoredState, Owners) {
        var state = StoredState()
        var owners = Owners()
        var deployments: [(made: Int64, deployment: StoredDeployment)] = []
        for kv in kvs {
            let json = try JSON.parse(kv.value)
            let kind = kv.key.dropFirst(keys.desired.count).prefix { $0 != "/" }
            switch kind {
            case "app": state.apps.append(try StoredRecordJSON.app(json))
            case "version":
                let version = try StoredRecordJSON.version(json)
                owners.versions[version.app, default: []].insert(version.version)
                state.versions.append(version)
            case "pool":
                let pool = try StoredRecordJSON.pool(json)
                owners.pools[pool.id] = pool.app
                state.pools.append(pool)
            case "deployment":
                let (deployment, made) = try StoredRecordJSON.deployment(json)
                owners.deployments[deployment.id] = (deployment.request.app, made)
                owners.lastMade = max(owners.lastMade, made)
                deployments.append((made, deployment))
            case "route":
                let route = try StoredRecordJSON.route(json)
                state.routes[route.key] = route
            default:
                throw StoredRecordJSON.Unreadable(description: "a key the store does not write: \(kv.key)")
            }
        }
        state.deployments = deployments.sorted { $0.made < $1.made }.map(\.deployment)
        return (state, owners)
    }

    private init(client: any EtcdKV, keys: ClusterKeys, fence: [EtcdCompare], snapshot: StoredState, owners: Owners) {
        self.client = client
        self.keys = keys
        self.fence = fence
        self.snapshot = snapshot
        self.owners = NIOLockedValueBox(owners)
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    public func load() throws -> StoredState { snapshot }

    public func enqueue(_ changes: [StoredChange]) {
        _ = queue.enqueue(changes)  // the writer is `run`, always there while this node leads
        wake.yield()
    }

    /// Ends the writer: this node no longer leads. Nothing queued and unwritten is written,
    /// and every flush throws from now on.
    public func close() {
        queue.fail(StoreFenced(description: "this node stepped down: nothing written"))
        wake.finish()
    }

    /// Why the store writes no more, once it does not.
    public var failure: (any Error)? { queue.failure }

    public func flush() async throws {
        try await queue.flush()
    }

    /// The revision of the last change written; after a `flush`, every change queued before
    /// it is at or below it.
    public var committedRevision: Int64 { committed.withLockedValue { $0 } }

    /// The one writer, run by the node while it leads: everything queued goes in one fenced
    /// transaction, then the next batch. Returns when cancelled, or once fenced off.
    public func run() async {
        for await _ in wakes {
            while let batch = queue.nextBatch() {
                let failure = await write(batch)
                queue.written(batch.count, failure: failure)
                if failure != nil { return }
            }
        }
    }

    private func write(_ batch: [StoredChange]) async -> StoreFenced? {
        let operations = Self.lastPerKey(batch.flatMap(operations))
        var start = 0
        repeat {
            let chunk = Array(operations[start..<min(start + Self.maxOperations, operations.count)])
            do {
                let result = try await client.txn(when: fence, then: chunk, else: [])
                guard result.succeeded else {
                    return StoreFenced(
                        description: "this node no longer leads (its election key is gone): nothing written"
                    )
                }
                committed.withLockedValue { $0 = max($0, result.revision) }
            } catch {
                return StoreFenced(description: "a change could not be written to \(error)")
            }
            start += Self.maxOperations
        } while start < operations.count
        return nil
    }

    /// etcd refuses a transaction that names a key twice; a batch's last word on a key is
    /// what the key must hold after it.
    private static func lastPerKey(_ operations: [EtcdOperation]) -> [EtcdOperation] {
        var last: [String: Int] = [:]
        for (index, operation) in operations.enumerated() {
            switch operation {
            case .put(let key, _, _), .delete(.key(let key)): last[key] = index
            case .delete(.prefix), .get: preconditionFailure("the store writes key by key")
            }
        }
        return last.values.sorted().map { operations[$0] }
    }

    private func operations(_ change: StoredChange) -> [EtcdOperation] {
        func put(_ key: String, _ json: JSON) -> EtcdOperation {
            // Every value here is JSON this process built: it serializes.
            .put(key, (try? json.serialized()) ?? [])
        }
        switch change {
        case .app(let app): return [put(keys.app(app.name.rawValue), StoredRecordJSON.app(app))]
        case .version(let version):
            owners.withLockedValue { _ = $0.versions[version.app, default: []].insert(version.version) }
            return [put(keys.version(app: version.app.rawValue, version.version), StoredRecordJSON.version(version))]
        case .pool(let pool):
            owners.withLockedValue { $0.pools[pool.id] = pool.app }
            return [put(keys.pool(pool.id.rawValue), StoredRecordJSON.pool(pool))]
        case .deployment(let deployment):
            let made = owners.withLockedValue { owners -> Int64 in
                if let known = owners.deployments[deployment.id] { return known.made }
                owners.lastMade += 1
                owners.deployments[deployment.id] = (deployment.request.app, owners.lastMade)
                return owners.lastMade
            }
            return [put(keys.deployment(deployment.id.rawValue), StoredRecordJSON.deployment(deployment, made: made))]
        case .route(let key, let route?): return [put(keys.route(key), route.json)]
        case .route(let key, nil): return [.delete(.key(keys.route(key)))]
        case .removed(.version(let app, let version)):
            owners.withLockedValue { _ = $0.versions[app]?.remove(version) }
            return [.delete(.key(keys.version(app: app.rawValue, version)))]
        case .removed(.pool(let id)):
            owners.withLockedValue { $0.pools[id] = nil }
            return [.delete(.key(keys.pool(id.rawValue)))]
        case .removed(.deployment(let id)):
            owners.withLockedValue { $0.deployments[id] = nil }
            return [.delete(.key(keys.deployment(id.rawValue)))]
        case .removed(.app(let name)):
            // As the SQLite store's cascade: the app's versions, pools and deployments go with it.
            let (versions, pools, deployments) = owners.withLockedValue { owners in
                let versions = owners.versions.removeValue(forKey: name) ?? []
                let pools = owners.pools.filter { $0.value == name }.map(\.key)
                let deployments = owners.deployments.filter { $0.value.app == name }.map(\.key)
                for pool in pools { owners.pools[pool] = nil }
                for deployment in deployments { owners.deployments[deployment] = nil }
                return (versions, pools, deployments)
            }
            return [.delete(.key(keys.app(name.rawValue)))]
                + versions.sorted().map { .delete(.key(keys.version(app: name.rawValue, $0))) }
                + pools.sorted().map { .delete(.key(keys.pool($0.rawValue))) }
                + deployments.sorted().map { .delete(.key(keys.deployment($0.rawValue))) }
        }
    }
}
