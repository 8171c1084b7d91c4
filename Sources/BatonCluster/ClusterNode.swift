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
    private let client: EtcdClient
    private let launcher: Launcher
    private let broker: LeaseBroker
    private let logger: Logger
    /// The requests in flight through this node's ingress, by app, as it counts them now.
    private let inFlight: @Sendable () -> [AppName: Int]
    /// How often this node says how many requests it has in flight (when the count changed).
    static let loadInterval = Duration.seconds(1)
    private let reports: NodeReports
    private let relay: AdminRelay
    /// How this node, leading, runs an admin call a follower forwarded.
    private let runForwarded: AdminRelay.Execute
    /// This node's key, and its drain record (docs/cluster.md, "Keys").
    private let nodeKey: LeasedKey
    private let drainKey: LeasedKey
    /// A word when what this node carries on draining pools may have changed.
    private let drainWake: AsyncStream<Void>.Continuation
    private let drainWakes: AsyncStream<Void>
    private let term = Mutex(Term())
    /// Every change of this node's role, leading or following, in order.
    public let roles: AsyncStream<LauncherRole>
    private let announce: AsyncStream<LauncherRole>.Continuation
    /// The etcd revision of each copy of the leader's state this node applied, in order.
    public let copies: AsyncStream<Int64>
    private let copied: AsyncStream<Int64>.Continuation

    private struct Term {
        /// The lease the session holds now, if any.
        var lease: EtcdLeaseID?
        /// The store this node writes through while it leads.
        var store: EtcdStore?
        /// The live nodes, by name, as each last said of itself.
        var nodes: [String: NodeRecord] = [:]
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
        (copies, copied) = AsyncStream<Int64>.makeStream(bufferingPolicy: .bufferingNewest(16))
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
        let desired = PrefixMirror(client: client, prefix: configuration.keys.desired)
        let nodes = PrefixMirror(client: client, prefix: configuration.keys.nodes)
        let candidates = PrefixMirror(client: client, prefix: configuration.keys.election)
        let drains = PrefixMirror(client: client, prefix: configuration.keys.drains)
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
            group.addTask { await self.reports.run() }
            group.addTask { await self.nodeKey.run() }
            group.addTask {
                // The count changes with every request: it is said at most once a second.
                while (try? await Task.sleep(for: Self.loadInterval)) != nil {
                    let record = NodeRecord(node: self.configuration.node, inFlight: self.inFlight())
                    self.nodeKey.set(Self.serialized(record.json))
                }
            }
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
                await drains.run { changes, _ in
                    self.term.withLock { term in
                        for change in changes {
                            switch change {
                            case .put(let kv): term.drains.records[kv.key] = try? NodeDrain(JSON.parse(kv.value))
                            case .delete(let key): term.drains.records[key] = nil
                            }
                        }
                    }
                    await self.passDrains()
                } trouble: {
                    await self.trouble($0)
                }
            }
            group.addTask {
                await remote.run { report, node in
                    await self.apply(report, from: node)
                } trouble: {
                    await self.trouble($0)
                }
            }
            group.addTask {
                await desired.run { changes, revision in
                    await self.copy(changes)
                    self.term.withLock { $0.copiedRevision = revision }
                    self.drainWake.yield()
                    self.copied.yield(revision)
                } trouble: {
                    await self.trouble($0)
                }
            }
            group.addTask {
                var live: [String: NodeRecord] = [:]
                await nodes.run { changes, _ in
                    for change in changes {
                        switch change {
                        case .put(let kv): live[kv.key] = try? NodeRecord(JSON.parse(kv.value))
                        case .delete(let key): live[key] = nil
                        }
                    }
                    // This node counts itself in whatever etcd says: a lease it is about to get
                    // back must not stop its sandboxes meanwhile.
                    let names = Set(live.values.map(\.node)).union([self.configuration.node])
                    self.term.withLock { $0.nodes = Dictionary(live.values.map { ($0.node, $0) }) { $1 } }
                    let shares = NodeShares(node: self.configuration.node, nodes: names)
                    await self.launcher.share(shares)
                    await self.broker.share(shares)
                    await self.passDrains()
                } trouble: {
                    await self.trouble($0)
                }
            }
            group.addTask {
                await candidates.run { changes, _ in
                    self.term.withLock { term in
                        for change in changes {
                            switch change {
                            case .put(let kv):
                                term.candidates[kv.key] = (kv.createRevision, String(decoding: kv.value, as: UTF8.self))
                            case .delete(let key): term.candidates[key] = nil
                            }
                        }
                    }
                } trouble: {
                    await self.trouble($0)
                }
            }
            group.addTask {
                for await lease in leases { await self.campaign(with: lease) }
            }
        }
        announce.finish()
        copied.finish()
        try? await client.shutdown()
    }

    // MARK: The session

    /// A value this node built: it serializes.
    private static func serialized(_ json: JSON) -> [UInt8] {
        (try? json.serialized()) ?? []
    }

    private func joined(_ lease: EtcdLeaseID) async {
        term.withLock { $0.lease = lease }
        nodeKey.joined(lease)
        drainKey.joined(lease)
        reports.joined(lease)
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
        await stepDown(
            "its etcd lease is gone: etcd at \(configuration.endpoints.joined(separator: ",")) did not renew it in time"
        )
        logger.warning(
            "lost its lease in the cluster",
            metadata: ["node": "\(configuration.node)", "lease": "\(lease)"]
        )
    }

    // MARK: Leading

    /// Campaigns with `lease` and leads while it holds the election, as long as the lease is
    /// the session's; a node whose writes are refused steps down and campaigns again.
    private func campaign(with lease: EtcdLeaseID) async {
        let election = EtcdElection(client: client, prefix: configuration.keys.election)
        var backoff = Backoff.reconnect
        while term.withLock({ $0.lease == lease }) {
            do {
                let leadership = try await election.campaign(lease: lease, value: configuration.node) { leader in
                    await self.follow(leader.map { "node \($0) leads" } ?? "no node leads yet")
                }
                try await lead(leadership, lease: lease)
                try? await election.resign(leadership)
                backoff.succeeded()
            } catch {
                await trouble(error)
                await follow("it cannot campaign: \(error)")
                guard (try? await Task.sleep(for: backoff.failed())) != nil else { return }
            }
        }
    }

    private func lead(_ leadership: EtcdElection.Leadership, lease: EtcdLeaseID) async throws {
        let store = try await EtcdStore.open(client: client, keys: configuration.keys, fence: [leadership.fence])
        guard
            term.withLock({ term -> Bool in
                guard term.lease == lease else { return false }
                term.store = store
                return true
            })
        else { return }
        try await launcher.lead(from: store)
        term.withLock { $0.following = nil }
        announce.yield(.leading)
        logger.notice("took the lead of the cluster", metadata: ["node": "\(configuration.node)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.relay.serve(self.runForwarded) }
            await store.run()  // until a write is refused or the lease is lost
            group.cancelAll()
        }
        let stillHeld = term.withLock { term -> Bool in
            if term.store === store { term.store = nil }
            return term.lease == lease
        }
        // A lost lease stepped down already, saying why; a refused write steps down here.
        if stillHeld { await stepDown(store.failure.map { "\($0)" } ?? "its writes to etcd ended") }
        logger.warning("gave up the lead of the cluster", metadata: ["node": "\(configuration.node)"])
    }

    private func stepDown(_ why: String) async {
        term.withLock { $0.drains.forget() }
        await follow(why)
        if let state = desiredState() { await launcher.copy(state) }
    }

    private func follow(_ why: String) async {
        let changed = term.withLock { term -> Bool in
            defer { term.following = why }
            return term.following != why
        }
        guard changed else { return }
        await launcher.follow(why)
        announce.yield(.following(why: why))
        logger.info("follows", metadata: ["node": "\(configuration.node)", "why": "\(why)"])
    }

    // MARK: Admin calls

    /// Has the leader run an admin call made on this node, which does not lead; its answer,
    /// or a refusal (3007) when none came.
    public func forward(_ method: String, _ params: JSON) async throws(RPCError) -> JSON {
        guard let lease = term.withLock({ $0.lease }) else {
            throw AdminRelay.unanswered(
                "it has no lease in the cluster: etcd at \(configuration.endpoints.joined(separator: ",")) cannot be reached"
            )
        }
        return try await relay.forward(method, params, lease: lease)
    }

    // MARK: Drains across nodes

    /// Says what this node carries on draining pools, counted after the copy it has applied.
    private func publishDrain() async {
        let revision = term.withLock { $0.copiedRevision }  // read first: the holds count after it
        let record = NodeDrain(node: configuration.node, revision: revision, holds: await broker.drainHolds())
        drainKey.set(Self.serialized(record.json))
    }

    /// The launcher began a drain the other nodes take part in: it waits for each of them to
    /// have copied the change that began it, so its change must be in etcd first.
    private func begun(_ drain: ClusterDrain) async {
        guard let store = term.withLock({ $0.store }), (try? await store.flush()) != nil else { return }
        let revision = store.committedRevision
        let leads = term.withLock { term -> Bool in
            guard term.store === store else { return false }
            term.drains.begin(drain, committedAt: revision)
            return true
        }
        if leads { await passDrains() }
    }

    /// Tells the launcher of every drain the other live nodes are done with, and where streams
    /// keep a pool past its request drain timeout.
    private func passDrains() async {
        let (done, streaming) = term.withLock { term in
            let others = Set(term.nodes.keys).subtracting([configuration.node])
            return (term.drains.done(among: others), term.drains.streaming(among: others))
        }
        for drain in done { await launcher.drainedElsewhere(drain) }
        await launcher.streamsElsewhere(streaming)
    }

    // MARK: Following

    private func copy(_ changes: [PrefixMirror.Change]) async {
        term.withLock { term in
            for change in changes {
                switch change {
                case .put(let kv): term.desired[kv.key] = kv
                case .delete(let key): term.desired[key] = nil
                }
            }
        }
        if let state = desiredState() { await launcher.copy(state) }
        let early = term.withLock { term in
            defer { term.early = [:] }
            return term.early.values.sorted { $0.report.sandbox < $1.report.sandbox }
        }
        for (report, node) in early { await apply(report, from: node) }
    }

    /// Another node's report, for this node's broker; one for a pool not copied yet waits
    /// for the copy that brings it.
    private func apply(_ report: SandboxReport, from node: String) async {
        term.withLock { $0.early[report.sandbox] = nil }  // a newer report replaces one that waits
        do {
            try await broker.report(report, from: SandboxReporter.node(node))
        } catch  where error.code == .unknownPool {
            term.withLock { $0.early[report.sandbox] = (report, node) }
            // The copy that brings the pool may have taken the waiting reports just before.
            guard (try? await broker.report(report, from: SandboxReporter.node(node))) != nil else { return }
            term.withLock { term in
                if term.early[report.sandbox]?.report == report { term.early[report.sandbox] = nil }
            }
        } catch {
            logger.warning("report of another node refused", metadata: ["node": "\(node)", "error": "\(error)"])
        }
    }

    /// The leader's state as last read; nil, and logged, when this node cannot read it, so
    /// that it keeps serving what it copied last rather than forget it.
    private func desiredState() -> StoredState? {
        let kvs = term.withLock { $0.desired.values.sorted { $0.key < $1.key } }
        do { return try EtcdStore.read(kvs, keys: configuration.keys).0 } catch {
            logger.error("the cluster's state cannot be read; keeping the last", metadata: ["error": "\(error)"])
            return nil
        }
    }

    private func trouble(_ error: any Error) async {
        logger.warning("etcd", metadata: ["node": "\(configuration.node)", "error": "\(error)"])
    }
}
