import BatonCluster
import BatonCore
import BatonEtcd
import BatonJSON
import BatonProtocol
import BatonRPC

/// Each node's lease, election and watch, as `ClusterNode` keeps them.
extension ClusterSimulation {
    // MARK: Lease and election

    /// The node's session does its next thing: a node out of the cluster joins and campaigns,
    /// a member renews its lease and takes the lead when its key comes first, and a node that
    /// cannot renew for a whole TTL, or whose lease is gone, steps down.
    func heartbeat(_ node: SimulatedNode) async {
        let cutOff = etcd.isCut(node.name)
        switch node.standing {
        case .out:
            guard !cutOff else { return }
            await join(node)
        case .member(let lease, let renewed, let candidacy), .leading(let lease, let renewed, let candidacy, _, _):
            if cutOff {
                if clock.now >= renewed + Simulation.leaseTTL {
                    note("\(node.name) lost its lease (cut off)")
                    await stepDown(node, keeping: .out)
                }
                return
            }
            guard etcd.keepAlive(lease) else {
                note("\(node.name) lost its lease (expired)")
                await stepDown(node, keeping: .out)
                return
            }
            switch node.standing {
            case .leading(_, _, let leadership, let store, let writer):
                node.standing = .leading(
                    lease: lease,
                    renewed: clock.now,
                    leadership: leadership,
                    store: store,
                    writer: writer
                )
            default:
                node.standing = .member(lease: lease, renewed: clock.now, candidacy: candidacy)
                await campaign(node, lease: lease, candidacy: candidacy)
            }
        }
    }

    private func join(_ node: SimulatedNode) async {
        let lease = etcd.grant(ttl: Simulation.leaseTTL)
        let key = keys.election + lease.description
        let record = (try? NodeRecord(node: node.name).json.serialized()) ?? []
        guard
            let made = try? etcd.transact(
                when: [.createRevision(key, equals: 0)],
                then: [
                    .put(key, Array(node.name.utf8), lease: lease),
                    .put(keys.node(node.name), record, lease: lease),
                ]
            )
        else { return }
        node.standing = .member(
            lease: lease,
            renewed: clock.now,
            candidacy: EtcdElection.Leadership(key: key, createRevision: made.revision)
        )
        node.joinedAt = clock.now
        node.unwritten = Set(node.reports.keys)
        node.lastDrainRecord = nil
        note("\(node.name) joins with lease \(lease)")
    }

    /// Leads once its election key has the lowest create revision, as etcd's recipe says.
    private func campaign(_ node: SimulatedNode, lease: EtcdLeaseID, candidacy: EtcdElection.Leadership) async {
        let first = etcd.range(.prefix(keys.election), options: .init(limit: 1, order: .createRevisionAscending))
        guard first.kvs.first?.key == candidacy.key else { return }
        do {
            let store = try await EtcdStore.open(client: node.link, keys: keys, fence: [candidacy.fence])
            try await node.core.launcher.lead(from: store)
            let writer = Task { await store.run() }  // held by the node's standing; cancelled when it steps down
            node.standing = .leading(
                lease: lease,
                renewed: clock.now,
                leadership: candidacy,
                store: store,
                writer: writer
            )
            node.gate = DrainGate()
            await node.core.launcher.share(NodeShares(node: node.name, nodes: liveNodes(as: node)))
            note("\(node.name) takes the lead")
        } catch {
            note("\(node.name) could not take the lead: \(error)")
        }
    }

    /// The node stops leading, if it led, and keeps `standing`.
    func stepDown(_ node: SimulatedNode, keeping standing: SimulatedNode.Standing) async {
        if case .leading(_, _, _, let store, let writer) = node.standing {
            store.close()
            writer.cancel()
            await writer.value
            node.gate.forget()
            _ = node.core.drainsBegun.take()
        }
        await node.core.launcher.follow("stepped down in the simulation")
        node.standing = standing
        // What it decided and did not write is forgotten: it copies the state it last read.
        if let state = try? EtcdStore.read(desiredKVs(of: node), keys: keys).0 { await node.core.launcher.copy(state) }
    }

    // MARK: Watch

    /// The node's watch delivers what changed after what it saw, up to a revision between
    /// that and now: watches lag. Behind a compaction, it reads everything again.
    func watch(_ node: SimulatedNode) async {
        guard !etcd.isCut(node.name) else { return }
        etcd.expire()
        let now = etcd.revision
        guard now > node.seen else { return }
        let until = Int64.random(in: node.seen + 1...now, using: &random)
        var changes: [EtcdEvent]
        do {
            changes = try etcd.events(after: node.seen, until: until)
            node.seen = until
        } catch {
            let all = etcd.range(.prefix(keys.prefix))
            changes = node.known.keys.filter { key in !all.kvs.contains { $0.key == key } }.sorted().map {
                EtcdEvent(
                    kind: .delete,
                    kv: EtcdKeyValue(key: $0, value: [], createRevision: 0, modRevision: all.revision)
                )
            }
            changes += all.kvs.filter { node.known[$0.key] != $0 }.map { EtcdEvent(kind: .put, kv: $0) }
            node.seen = all.revision
            note("\(node.name)'s watch is behind a compaction: it reads everything again")
        }
        await apply(changes, to: node)
    }

    private func apply(_ changes: [EtcdEvent], to node: SimulatedNode) async {
        let nodesBefore = liveNodes(as: node)
        var desiredChanged = false
        var reports: [(SandboxReport, String)] = []
        for change in changes {
            let key = change.kv.key
            let previous = node.known[key]
            switch change.kind {
            case .put: node.known[key] = change.kv
            case .delete: node.known[key] = nil
            }
            if key.hasPrefix(keys.desired) { desiredChanged = true }
            if key.hasPrefix(keys.drains) {
                node.gate.records[key] = change.kind == .put ? try? NodeDrain(JSON.parse(change.kv.value)) : nil
            }
            if let sender = Self.sender(of: key, under: keys.sandboxes), sender != node.name {
                let value = change.kind == .put ? change.kv.value : previous?.value
                guard let value, var report = Self.report(value) else { continue }
                if change.kind == .delete {
                    report = SandboxReport(
                        sandbox: report.sandbox,
                        pool: report.pool,
                        state: .stopped,
                        reason: "its node no longer reports it"
                    )
                }
                reports.append((report, sender))
            }
        }
        if desiredChanged, let state = try? EtcdStore.read(desiredKVs(of: node), keys: keys).0 {
            await node.core.launcher.copy(state)
        }
        let nodesNow = liveNodes(as: node)
        if nodesNow != nodesBefore {
            await node.core.launcher.share(NodeShares(node: node.name, nodes: nodesNow))
        }
        let retried = node.early.values.sorted { $0.report.sandbox < $1.report.sandbox }.map { ($0.report, $0.node) }
        node.early = [:]
        for (report, sender) in retried + reports { await deliver(report, from: sender, to: node) }
    }

    private func deliver(_ report: SandboxReport, from sender: String, to node: SimulatedNode) async {
        node.early[report.sandbox] = nil
        do {
            try await node.core.broker.report(report, from: SandboxReporter.node(sender))
        } catch  where error.code == .unknownPool {
            node.early[report.sandbox] = (report, sender)
        } catch {
            note("\(node.name) refuses \(sender)'s report of \(report.sandbox): \(error.message)")
        }
    }

    private func desiredKVs(of node: SimulatedNode) -> [EtcdKeyValue] {
        node.known.filter { $0.key.hasPrefix(keys.desired) }.values.sorted { $0.key < $1.key }
    }

    private static func sender(of key: String, under prefix: String) -> String? {
        guard key.hasPrefix(prefix) else { return nil }
        return String(key.dropFirst(prefix.count).prefix { $0 != "/" })
    }

    private static func report(_ bytes: [UInt8]) -> SandboxReport? {
        guard let object = (try? JSON.parse(bytes))?.objectValue else { return nil }
        return try? SandboxReport(params: RPCParams(members: object))
    }
}
