import BatonCore
import BatonEtcd
import BatonJSON
import BatonProtocol
import BatonRPC
import Logging
import Synchronization

/// Where a node finds its cluster and what it calls itself (docs/cluster.md, "Settings").
public struct ClusterConfiguration: Sendable {
    public var endpoints: [String]
    public var node: String
    public var keys: ClusterKeys
    /// The node's etcd lease: how soon the others notice it is gone.
    public var leaseTTL: Duration
    /// One call to etcd.
    public var requestTimeout: Duration

    public static let defaultLeaseTTL = Duration.seconds(5)
    public static let defaultRequestTimeout = Duration.seconds(2)

    public init(
        endpoints: [String],
        node: String,
        keys: ClusterKeys = ClusterKeys(),
        leaseTTL: Duration = ClusterConfiguration.defaultLeaseTTL,
        requestTimeout: Duration = ClusterConfiguration.defaultRequestTimeout
    ) {
        self.endpoints = endpoints
        self.node = node
        self.keys = keys
        self.leaseTTL = leaseTTL
        self.requestTimeout = requestTimeout
    }
}

/// What `app.status` says about the cluster: this node, the leader, the live nodes, and the
/// requests in flight through each node's ingress, by app.
public struct ClusterView: Sendable, Hashable {
    public var node: String
    public var leader: String?
    public var nodes: [String]
    public var inFlight: [String: [AppName: Int]]
}

/// One node of a cluster: it keeps its lease, campaigns, leads with the cluster's store or
/// follows the leader's state, and shares its sandbox reports (docs/cluster.md). Its launcher
/// starts as a follower and leads only while this node holds the election.
public final class ClusterNode: Sendable {
    public let configuration: ClusterConfiguration
    let client: EtcdClient
    let launcher: Launcher
    let broker: LeaseBroker
    let logger: Logger
    /// The requests in flight through this node's ingress, by app, as it counts them now.
    let inFlight: @Sendable () -> [AppName: Int]
    /// How often this node says how many requests it has in flight (when the count changed).
    static let loadInterval = Duration.seconds(1)
    let reports: NodeReports
    let relay: AdminRelay
    /// How this node, leading, runs an admin call a follower forwarded.
    let runForwarded: AdminRelay.Execute
    /// This node's key, and its drain record (docs/cluster.md, "Keys").
    let nodeKey: LeasedKey
    let drainKey: LeasedKey
    /// A word when what this node carries on draining pools may have changed.
    let drainWake: AsyncStream<Void>.Continuation
    let drainWakes: AsyncStream<Void>
    let term = Mutex(Term())
    /// Every change of this node's role, leading or following, in order.
    public let roles: AsyncStream<LauncherRole>
    let announce: AsyncStream<LauncherRole>.Continuation
    /// The etcd revision of each copy of the leader's state this node applied, in order.
    public let copies: AsyncStream<Int64>
    let copiedRevisions: AsyncStream<Int64>.Continuation

    struct Term {
        /// The lease the session holds now, if any.
        var lease: EtcdLeaseID?
        /// The store this node writes through while it leads.
        var store: EtcdStore?
        /// What each live node last said of itself, by its key.
        var nodeRecords: [String: NodeRecord] = [:]
        var candidates: [String: (revision: Int64, node: String)] = [:]
        /// Why this node follows, while it does.
        var following: String?
        /// The leader's state as this node last read it, by key.
        var desired: [String: EtcdKeyValue] = [:]
        /// Other nodes' reports for pools this node has not copied yet (the reports and the
        /// state come through different watches), by sandbox; tried again after each copy.
        var early: [SandboxID: (report: SandboxReport, node: String)] = [:]
        /// The revision of the leader's state this node has applied.
        var copiedRevision: Int64 = 0
        /// The drains this node, leading, waits for the others to finish.
        var drains = DrainGate()

        /// The live nodes, by name.
        var nodes: [String: NodeRecord] { Dictionary(nodeRecords.values.map { ($0.node, $0) }) { $1 } }
    }

    public init(
        configuration: ClusterConfiguration,
        launcher: Launcher,
        broker: LeaseBroker,
        logger: Logger,
        inFlight: @escaping @Sendable () -> [AppName: Int] = { [:] },
        runForwarded: @escaping AdminRelay.Execute = { method, _ in .failure(.methodNotFound(method)) }
    ) {
        self.configuration = configuration
        self.inFlight = inFlight
        self.runForwarded = runForwarded
        client = EtcdClient(endpoints: configuration.endpoints, timeout: configuration.requestTimeout)
        self.launcher = launcher
        self.broker = broker
        self.logger = logger
        reports = NodeReports(client: client, keys: configuration.keys, node: configuration.node)
        // Long enough for the leader's lease to expire and another node to take the lead.
        relay = AdminRelay(
            client: client,
            keys: configuration.keys,
            node: configuration.node,
            timeout: configuration.leaseTTL * 3
        )
        nodeKey = LeasedKey(client: client, key: configuration.keys.node(configuration.node))
        drainKey = LeasedKey(client: client, key: configuration.keys.drain(of: configuration.node))
        (drainWakes, drainWake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        nodeKey.set(Self.serialized(NodeRecord(node: configuration.node).json))
        (roles, announce) = AsyncStream<LauncherRole>.makeStream()
        (copies, copiedRevisions) = AsyncStream<Int64>.makeStream(bufferingPolicy: .bufferingNewest(16))
    }

    /// This node, the leader (the candidate whose key is oldest) and the live nodes, as last
    /// read; this node's requests in flight as it counts them now.
    public func view() -> ClusterView {
        let own = inFlight()
        return term.withLock { term in
            var inFlight = term.nodes.mapValues(\.inFlight)
            inFlight[configuration.node] = own
            return ClusterView(
                node: configuration.node,
                leader: term.candidates.values.min { $0.revision < $1.revision }?.node,
                nodes: Set(term.nodes.keys).union([configuration.node]).sorted(),
                inFlight: inFlight
            )
        }
    }

    /// A report this node's broker took from one of its own schedulers.
    public func reported(_ report: SandboxReport, from scheduler: String? = nil) {
        reports.record(report, from: scheduler)
    }

    /// A scheduler's whole list (`scheduler.sync`): what it reported before and leaves out
    /// now has stopped.
    public func synced(_ reports: [SandboxReport], from scheduler: String) {
        self.reports.synced(reports, from: scheduler)
    }

    /// Runs the node until cancelled, then leaves the cluster (its lease is revoked, so its
    /// keys go at once) and closes its client.
    public func run() async {
        await follow("it has not won its cluster's election yet")
        let (leases, joined) = AsyncStream<EtcdLeaseID>.makeStream()
        let session = EtcdSession(client: client, ttl: configuration.leaseTTL)
        let remote = RemoteReports(client: client, keys: configuration.keys, node: configuration.node)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await session.run { lease in
                    await self.joined(lease)
                    joined.yield(lease)
                } lost: { lease in
                    await self.lost(lease)
                }
                joined.finish()
            }
            group.addTask {
                for await lease in leases { await self.campaign(with: lease) }
            }
            group.addTask { await self.reports.run() }
            group.addTask { await self.nodeKey.run() }
            group.addTask { await self.sayLoad() }
            group.addTask { await self.drainKey.run() }
            group.addTask {
                for await _ in self.broker.drainChanges { self.drainWake.yield() }
            }
            group.addTask {
                for await _ in self.drainWakes { await self.publishDrain() }
            }
            group.addTask {
                for await drain in self.launcher.drainsBegun { await self.begun(drain) }
            }
            group.addTask {
                await remote.run { report, node in
                    await self.apply(report, from: node)
                } trouble: {
                    await self.trouble($0)
                }
            }
            group.addTask { await self.mirror(self.configuration.keys.desired, self.copied) }
            group.addTask { await self.mirror(self.configuration.keys.nodes, self.nodesChanged) }
            group.addTask { await self.mirror(self.configuration.keys.election, self.candidatesChanged) }
            group.addTask { await self.mirror(self.configuration.keys.drains, self.drainRecordsChanged) }
        }
        announce.finish()
        copiedRevisions.finish()
        try? await client.shutdown()
    }

    /// Keeps a copy of the keys under `prefix`, handing each change to `apply`.
    private func mirror(_ prefix: String, _ apply: ([PrefixMirror.Change], Int64) async -> Void) async {
        await PrefixMirror(client: client, prefix: prefix).run(apply: apply) { await self.trouble($0) }
    }

    /// Says how many requests this node's ingress has in flight, at most once a second: the
    /// count changes with every request.
    private func sayLoad() async {
        while (try? await Task.sleep(for: Self.loadInterval)) != nil {
            nodeKey.set(Self.serialized(NodeRecord(node: configuration.node, inFlight: inFlight()).json))
        }
    }

    /// The live nodes changed: this node's schedulers and broker take their share from now.
    private func nodesChanged(_ changes: [PrefixMirror.Change], _: Int64) async {
        let names = term.withLock { term -> Set<String> in
            for change in changes {
                switch change {
                case .put(let kv): term.nodeRecords[kv.key] = try? NodeRecord(JSON.parse(kv.value))
                case .delete(let key): term.nodeRecords[key] = nil
                }
            }
            return Set(term.nodes.keys)
        }
        // This node counts itself in whatever etcd says: a lease it is about to get back must
        // not stop its sandboxes meanwhile.
        let shares = NodeShares(node: configuration.node, nodes: names.union([configuration.node]))
        await launcher.share(shares)
        await broker.share(shares)
        await passDrains()
    }

    private func candidatesChanged(_ changes: [PrefixMirror.Change], _: Int64) async {
        term.withLock { term in
            for change in changes {
                switch change {
                case .put(let kv):
                    term.candidates[kv.key] = (kv.createRevision, String(decoding: kv.value, as: UTF8.self))
                case .delete(let key): term.candidates[key] = nil
                }
            }
        }
    }

    // MARK: The session

    /// A value this node built: it serializes.
    static func serialized(_ json: JSON) -> [UInt8] {
        (try? json.serialized()) ?? []
    }

    private func joined(_ lease: EtcdLeaseID) async {
        term.withLock { $0.lease = lease }
        nodeKey.joined(lease)
        drainKey.joined(lease)
        reports.joined(lease)
        await broker.prefer(.leastLoaded)
        logger.info("joined the cluster", metadata: ["node": "\(configuration.node)", "lease": "\(lease)"])
    }

    /// The lease is gone or may be: whatever this node led, it leads no more, at once.
    private func lost(_ lease: EtcdLeaseID) async {
        let store = term.withLock { term -> EtcdStore? in
            term.lease = nil
            defer { term.store = nil }
            return term.store
        }
        reports.lost()
        nodeKey.lost()
        drainKey.lost()
        store?.close()
        await broker.prefer(.ownFirst)  // the others no longer wait for this node's requests
        await stepDown(
            "its etcd lease is gone: etcd at \(configuration.endpoints.joined(separator: ",")) did not renew it in time"
        )
        logger.warning(
            "lost its lease in the cluster",
            metadata: ["node": "\(configuration.node)", "lease": "\(lease)"]
        )
    }

    func trouble(_ error: any Error) async {
        logger.warning("etcd", metadata: ["node": "\(configuration.node)", "error": "\(error)"])
    }
}
