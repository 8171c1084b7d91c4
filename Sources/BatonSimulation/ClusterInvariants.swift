import BatonCluster
import BatonCore
import BatonEtcd

/// The cluster mode's promises, checked after every step: those of one node on every node,
/// the leader's decisions on the leader, and those of the cluster as a whole.
extension ClusterSimulation {
    func check() async throws(InvariantBroken) {
        if let write = etcd.takeBrokenWrite() { try broken(write.invariant, write.detail) }
        // A leader acts while its election key, the fence of every write, is still there.
        let acting = nodes.filter { node in
            guard case .leading(_, _, let leadership, _, _) = node.standing else { return false }
            return etcd.range(.key(leadership.key)).kvs.first?.createRevision == leadership.createRevision
        }
        if acting.count > 1 { try broken("never two acting leaders", "\(acting.map(\.name)) all act") }
        let stored = try storedState()
        for node in nodes {
            let broker = await node.core.broker.view()
            let launcher = await node.core.launcher.view()
            let core = CoreInvariants(broker: broker, launcher: launcher, now: clock.now)
            let leading = acting.first === node
            if let broken = core.brokerAgrees() ?? (leading ? core.decisions() : nil) {
                try self.broken(broken.invariant, "on \(node.name): \(broken.detail)")
            }
            if leading { try checkDrains(launcher) }
            try checkStreams(of: node, broker: broker, stored: stored)
            try measure(broker.sandboxes.count, "broker.sandboxes")
            try measure(broker.leases.count, "broker.leases")
            try measure(launcher.pools.count, "launcher.pools")
        }
    }

    /// Every drain ends within its deadlines, counted from the cutover or from when the
    /// leader that resumed it took the lead.
    private func checkDrains(_ launcher: LauncherView) throws(InvariantBroken) {
        for (id, deployment) in launcher.deployments where deployment.state == .draining || deployment.state == .cutover
        {
            let from = max(cutoverAt[id] ?? deployment.started, deployment.started)
            let deadline = from + deployment.drainTimeout + Simulation.streamDrain
            if clock.now > deadline {
                try broken(
                    "every deployment ends within its timeouts",
                    "\(id) still drains at \(clock.now), past \(deadline)"
                )
            }
        }
    }

    /// A stream keeps its lease while it is open, and while its node stays in the cluster its
    /// pool keeps running until the stream drain deadline, on whichever node it runs.
    private func checkStreams(of node: SimulatedNode, broker: BrokerView, stored: StoredState) throws(InvariantBroken) {
        node.streams.removeAll { stream in
            broker.sandboxes[stream.lease.sandbox].map { $0.state == .stopped || $0.state == .failed } ?? true
        }
        let inClusterSince = node.standing.lease.flatMap { lease in
            etcd.range(.key(keys.node(node.name))).kvs.first?.lease == lease ? node.joinedAt : nil
        }
        for stream in node.streams {
            guard broker.leases[stream.lease.id] != nil else {
                try broken(
                    "a stream keeps its lease while it is open",
                    "\(stream.lease.id) on \(node.name) is gone, whatever its TTL"
                )
            }
            guard let since = inClusterSince, since <= stream.opened,
                clock.now < stream.opened + Simulation.streamDrain,
                let pool = broker.sandboxes[stream.lease.sandbox]?.pool,
                let storedPool = stored.pools.first(where: { $0.id == pool })
            else { continue }
            if storedPool.desired == 0 {
                try broken(
                    "a stream's sandbox lives until the stream drain deadline, whichever node holds it",
                    "\(pool) is stored at 0 \((clock.now - stream.opened).milliseconds) ms after \(node.name) opened a stream on \(stream.lease.sandbox)"
                )
            }
        }
    }

    private func storedState() throws(InvariantBroken) -> StoredState {
        do {
            return try EtcdStore.read(etcd.range(.prefix(keys.desired)).kvs, keys: keys).0
        } catch {
            try broken("the leader's state in etcd reads back", "\(error)")
        }
    }

    private func measure(_ count: Int, _ name: String) throws(InvariantBroken) {
        report.most[name] = max(report.most[name] ?? 0, count)
        if let bound = Simulation.bounds[name], count > bound {
            try broken("collections stay bounded", "\(name) holds \(count), more than \(bound)")
        }
    }
}
