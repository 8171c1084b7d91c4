import BatonCluster
import BatonCore
import BatonEtcd
import BatonJSON

/// The simulation's cluster mode: three nodes, each with its own launcher, broker and
/// scheduler, on a simulated etcd whose watches lag, whose history is compacted, whose links
/// are cut and healed, and whose leases expire when the clock jumps. The nodes take part as
/// `ClusterNode` does, through the same records: the fenced `EtcdStore`, `NodeDrain`,
/// `DrainGate` and `NodeShares`. The invariants are checked after every step, "never two
/// acting leaders" among them.
public final class ClusterSimulation {
    let options: Simulation.Options
    var random: SeededGenerator
    let clock = ManualClock()
    let world = SimulatedWorld()
    let keys = ClusterKeys()
    let etcd: SimulatedEtcd
    var nodes: [SimulatedNode] = []
    var versions = VersionBook()
    var trace: [String] = []
    var report = Simulation.Report()
    var step = 0
    /// When each deployment cut over, from the leaders' events.
    var cutoverAt: [DeploymentID: CoreInstant] = [:]

    static let nodeNames = ["n0", "n1", "n2"]

    public init(options: Simulation.Options) {
        self.options = options
        random = SeededGenerator(seed: options.seed)
        etcd = SimulatedEtcd(clock: clock, keys: keys)
    }

    public func run() async throws(InvariantBroken) -> Simulation.Report {
        for (index, name) in Self.nodeNames.enumerated() {
            let core = await SimulatedNode.Core.boot(clock: clock, world: world)
            nodes.append(SimulatedNode(name: name, index: index, link: etcd.link(for: name), core: core))
        }
        for node in nodes { await heartbeat(node) }
        for index in 1...options.steps {
            step = index
            await act()
            await settle()
            try await check()
            report.steps = index
        }
        for node in nodes { await node.core.stop() }
        return report
    }

    /// Lets every job the step caused run on every node, then does what each node's
    /// background work would: the leader's writes, the drains it hears of, each node's own
    /// records in etcd.
    func settle() async {
        while true {
            for _ in 0..<64 { await Task.yield() }
            var busy = false
            for node in nodes {
                let signalsLeft = await node.core.broker.signalsSent != node.core.launcher.signalsHandled
                if signalsLeft { busy = true } else if await node.core.launcher.alarmsDue { busy = true }
            }
            if !busy { break }
        }
        for node in nodes {
            await writeLeadersState(node)
            publishRecords(node)
            await passDrains(node)
            absorb(node)
        }
    }

    /// The leader's queued changes go to etcd, fenced; a fenced-off leader steps down.
    func writeLeadersState(_ node: SimulatedNode) async {
        guard case .leading(let lease, let renewed, let leadership, let store, _) = node.standing else { return }
        do {
            try await store.flush()
        } catch {
            note("\(node.name)'s write is refused (\(error)): it steps down")
            await stepDown(node, keeping: .member(lease: lease, renewed: renewed, candidacy: leadership))
            return
        }
        for drain in node.core.drainsBegun.take() {
            node.gate.begin(drain, committedAt: store.committedRevision)
        }
    }

    /// Its sandbox reports and its drain record, on its lease, when it can reach etcd.
    func publishRecords(_ node: SimulatedNode) {
        guard let lease = node.standing.lease, !etcd.isCut(node.name) else { return }
        let changed = node.unwritten.sorted()
        var operations: [EtcdOperation] = []
        for sandbox in changed {
            guard let report = node.reports[sandbox] else { continue }
            let key = keys.sandbox(sandbox.rawValue, of: node.name)
            if report.state.isFinal {
                operations.append(.delete(.key(key)))
            } else {
                operations.append(.put(key, (try? report.json.serialized()) ?? [], lease: lease))
            }
        }
        if !operations.isEmpty, (try? etcd.transact(when: [], then: operations)) != nil {
            node.unwritten = []
            for sandbox in changed where node.reports[sandbox]?.state.isFinal == true { node.reports[sandbox] = nil }
        }
    }

    /// Says what the node carries on draining pools, counted after the copy it has applied.
    func publishDrainRecord(_ node: SimulatedNode) async {
        guard let lease = node.standing.lease, !etcd.isCut(node.name) else { return }
        let record = NodeDrain(node: node.name, revision: node.seen, holds: await node.core.broker.drainHolds())
        guard record != node.lastDrainRecord else { return }
        let value = (try? record.json.serialized()) ?? []
        if (try? etcd.transact(when: [], then: [.put(keys.drain(of: node.name), value, lease: lease)])) != nil {
            node.lastDrainRecord = record
        }
    }

    /// The leader tells its launcher of the drains the other live nodes are done with.
    func passDrains(_ node: SimulatedNode) async {
        await publishDrainRecord(node)
        guard node.leads else { return }
        let others = liveNodes(as: node).subtracting([node.name])
        for drain in node.gate.done(among: others) { await node.core.launcher.drainedElsewhere(drain) }
        await node.core.launcher.streamsElsewhere(node.gate.streaming(among: others))
    }

    /// The live nodes as `node`'s watch has shown them.
    func liveNodes(as node: SimulatedNode) -> Set<String> {
        Set(
            node.known.filter { $0.key.hasPrefix(keys.nodes) }.values.compactMap {
                (try? NodeRecord(JSON.parse($0.value)))?.node
            }
        )
    }

    func absorb(_ node: SimulatedNode) {
        for update in node.core.desired.take() { node.scheduler.apply(update.pools) }
        for event in node.core.events.take() {
            switch event.type {
            case .deployCutover:
                if let deployment = event.deployment { cutoverAt[deployment] = event.time }
                report.cutovers += 1
                note("  \(node.name): cutover \(event.app) \(event.deployment?.rawValue ?? "")")
            case .deployFailed: report.failedDeploys += 1
            case .poolScaledDown:
                note("  \(node.name): \(event.pool?.rawValue ?? "") scaled down (\(event.reason ?? ""))")
            default: break
            }
        }
    }

    func note(_ line: String) {
        trace.append("\(step) t=\(clock.now.sinceStart.milliseconds): \(line)")
        if trace.count > 400 { trace.removeFirst(200) }
    }

    func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[Int.random(in: 0..<items.count, using: &random)]
    }

    func broken(_ invariant: String, _ detail: String) throws(InvariantBroken) -> Never {
        throw InvariantBroken(
            seed: options.seed,
            step: step,
            invariant: invariant,
            detail: detail,
            trace: trace,
            replay: "scripts/simulate --cluster --seed \(options.seed) --steps \(step)"
        )
    }
}
