import BatonCore
import BatonJSON

/// The events of the simulated cluster's world.
extension ClusterSimulation {
    func act() async {
        guard let node = pick(nodes) else { return }
        switch Int.random(in: 0..<1000, using: &random) {
        case 0..<15: await deploy()
        case 15..<25: await operate()
        case 25..<55: await watch(node)
        case 55..<190: startSandbox(on: node)
        case 190..<320: readySandbox(on: node)
        case 320..<390: stopSandbox(on: node)
        case 390..<520: await deliverReports(of: node)
        case 520..<680: await watch(node)
        case 680..<740: await heartbeat(node)
        case 740..<800: await acquire(on: node)
        case 800..<840: await release(on: node)
        case 840..<855: await openStream(on: node)
        case 855..<870: await closeStream(on: node)
        case 870..<885: killSandbox(on: node)
        case 885..<890: cut(node)
        case 890..<910: heal()
        case 910..<914: compact()
        case 914..<917: await crash(node)
        case 917..<998: await tick(by: .milliseconds(Int64.random(in: 10...300, using: &random)))
        default:
            let jump = pick([
                Simulation.leaseTTL + .milliseconds(1), .seconds(12), Simulation.streamDrain + .seconds(5),
            ])!
            await tick(by: jump, stalling: Bool.random(using: &random) ? node : nil)
        }
    }

    // MARK: Operators

    /// An operator deploys through a node: mostly the one that believes it leads.
    func deploy() async {
        guard let app = pick(Simulation.apps), let spec = pick(Simulation.specs), let node = operatorsNode() else {
            return
        }
        // One sandbox more than the host alone runs: three nodes share them.
        let request = versions.request(app, spec, instances: spec.instances + 1, random: &random)
        let version = request.version
        // The node's scheduler speaks meanwhile: its reports reach the broker while the deploy
        // is under way, and the signals they raise are handled between the deploy's steps.
        let pending = node.scheduler.pending
        node.scheduler.pending = []
        let broker = node.core.broker
        async let reported = Self.deliver(pending, to: broker)
        let deployed: DeploymentID
        do {
            deployed = try await node.core.launcher.deploy(request)
        } catch {
            took(await reported, on: node)
            note("deploy \(app) \(version) through \(node.name) refused: \(error.message)")
            return
        }
        took(await reported, on: node)
        report.deploys += 1
        note("deploy \(app) \(version) (\(spec.image)) through \(node.name) → \(deployed)")
        await answer(through: node)
    }

    /// An operator rolls back, or scales the active pool to 0 and back.
    func operate() async {
        guard let app = pick(Simulation.apps), let node = operatorsNode() else { return }
        let launcher = node.core.launcher
        do {
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                _ = try await launcher.rollback(app: app)
                note("rollback of \(app) through \(node.name)")
            case 1:
                try await launcher.scale(app: app, service: "web", instances: 0, drainTimeout: .seconds(2))
                note("stop of \(app) through \(node.name)")
            default:
                try await launcher.scale(app: app, service: "web", instances: 2, drainTimeout: .seconds(2))
                note("scale of \(app) to 2 through \(node.name)")
            }
        } catch {
            note("operator's call on \(app) through \(node.name) refused: \(error.message)")
            return
        }
        await answer(through: node)
    }

    /// An admin call is answered once its changes are in etcd; a leader that cannot write
    /// them answers with an error (and steps down at the next settle).
    private func answer(through node: SimulatedNode) async {
        await writeLeadersState(node)
        do { try await node.core.launcher.durable() } catch { note("  answered with an error: \(error)") }
    }

    private func operatorsNode() -> SimulatedNode? {
        let leader = nodes.first(where: \.leads)
        return Int.random(in: 0..<5, using: &random) == 0 ? pick(nodes) : leader ?? pick(nodes)
    }

    // MARK: Each node's scheduler

    func startSandbox(on node: SimulatedNode) {
        let short = node.scheduler.desired.values.filter { node.scheduler.live(in: $0.pool).count < $0.desired }
            .sorted { $0.pool < $1.pool }
        guard let pool = pick(short) else { return }
        node.scheduler.nextSandbox += 1
        let id = SandboxID("s\(node.scheduler.nextSandbox)")
        node.scheduler.sandboxes[id] = SimulatedScheduler.Sandbox(
            id: id,
            pool: pool.pool,
            url: "http://\(node.name).sim/\(id)",
            phase: .starting,
            broken: pool.spec.spec["image"]?.stringValue == "broken"
        )
        node.scheduler.pending.append(SandboxReport(sandbox: id, pool: pool.pool, state: .starting))
        note("\(node.name) starts \(id) in \(pool.pool)")
    }

    func readySandbox(on node: SimulatedNode) {
        let starting = node.scheduler.sandboxes.values.filter { $0.phase == .starting }.sorted { $0.id < $1.id }
        guard var sandbox = pick(starting) else { return }
        sandbox.phase = .ready
        node.scheduler.sandboxes[sandbox.id] = sandbox
        world.setAnswering(sandbox.url, !sandbox.broken)
        node.scheduler.pending.append(
            SandboxReport(sandbox: sandbox.id, pool: sandbox.pool, state: .ready, url: sandbox.url)
        )
        note("\(node.name)'s \(sandbox.id) ready")
    }

    func stopSandbox(on node: SimulatedNode) {
        let over = node.scheduler.desired.values.filter { node.scheduler.live(in: $0.pool).count > $0.desired }
            .sorted { $0.pool < $1.pool }
        guard let pool = pick(over) else { return }
        let order = node.scheduler.live(in: pool.pool).sorted {
            ($0.phase == .ready ? 1 : 0, -$0.number) < ($1.phase == .ready ? 1 : 0, -$1.number)
        }
        guard let sandbox = order.first else { return }
        end(sandbox, on: node, as: .stopped, report: .stopped)
        note("\(node.name) stops \(sandbox.id) of \(pool.pool) (desired \(pool.desired))")
    }

    func killSandbox(on node: SimulatedNode) {
        guard let sandbox = pick(node.scheduler.sandboxes.values.filter(\.live).sorted { $0.id < $1.id }) else {
            return
        }
        end(sandbox, on: node, as: .dead, report: .failed)
        report.faults += 1
        note("\(node.name)'s \(sandbox.id) dies")
    }

    private func end(
        _ sandbox: SimulatedScheduler.Sandbox,
        on node: SimulatedNode,
        as phase: SimulatedScheduler.Phase,
        report state: ReportedState
    ) {
        var ended = sandbox
        ended.phase = phase
        node.scheduler.sandboxes[sandbox.id] = ended
        world.setAnswering(sandbox.url, false)
        node.scheduler.pending.append(SandboxReport(sandbox: sandbox.id, pool: sandbox.pool, state: state))
        node.scheduler.prune()
    }

    /// The node's scheduler's reports reach its broker, in order, and are kept for etcd.
    func deliverReports(of node: SimulatedNode) async {
        let pending = node.scheduler.pending
        node.scheduler.pending = []
        took(await Self.deliver(pending, to: node.core.broker), on: node)
    }

    /// Hands `reports` to `broker` in order; those it took, and why it refused the others.
    static func deliver(
        _ reports: [SandboxReport],
        to broker: LeaseBroker
    ) async -> [Result<SandboxReport, CoreError>] {
        var outcomes: [Result<SandboxReport, CoreError>] = []
        for report in reports {
            do throws(CoreError) {
                try await broker.report(report, from: "sim")
                outcomes.append(.success(report))
            } catch {
                outcomes.append(.failure(error))
            }
        }
        return outcomes
    }

    /// Keeps the reports `node`'s broker took, for etcd.
    private func took(_ outcomes: [Result<SandboxReport, CoreError>], on node: SimulatedNode) {
        for outcome in outcomes {
            switch outcome {
            case .success(let report):
                node.reports[report.sandbox] = report
                node.unwritten.insert(report.sandbox)
            case .failure(let error):
                note("\(node.name) refuses its own report: \(error.message)")
            }
        }
    }

    // MARK: Routers and streams

    func acquire(on node: SimulatedNode) async {
        guard let app = pick(Simulation.apps) else { return }
        if let lease = try? await node.core.broker.acquire(app: app, service: "web") {
            node.leases.append(lease)
            note("\(node.name)'s router takes \(lease.id) on \(lease.sandbox)")
        }
    }

    func release(on node: SimulatedNode) async {
        guard let lease = pick(node.leases) else { return }
        node.leases.removeAll { $0.id == lease.id }
        await node.core.broker.release(lease.id)
    }

    func openStream(on node: SimulatedNode) async {
        guard let app = pick(Simulation.apps),
            let lease = try? await node.core.broker.acquire(app: app, service: "web")
        else { return }
        await node.core.broker.markStream(lease.id)
        node.streams.append((lease, clock.now))
        note("\(node.name): stream opens on \(lease.sandbox) (\(lease.id))")
    }

    func closeStream(on node: SimulatedNode) async {
        guard let stream = pick(node.streams.map(\.lease)) else { return }
        node.streams.removeAll { $0.lease.id == stream.id }
        await node.core.broker.release(stream.id)
        note("\(node.name): stream on \(stream.sandbox) closes")
    }

    // MARK: Faults and time

    func cut(_ node: SimulatedNode) {
        guard !etcd.isCut(node.name) else { return }
        etcd.cut(node.name)
        report.faults += 1
        note("\(node.name) is cut off from etcd")
    }

    func heal() {
        guard let node = pick(nodes.filter { etcd.isCut($0.name) }) else { return }
        etcd.heal(node.name)
        note("\(node.name) reaches etcd again")
    }

    func compact() {
        etcd.compact()
        note("etcd compacts its history")
    }

    /// The node's process ends and starts again: its leases, streams and sandboxes die with
    /// it; its etcd lease lives on until it expires.
    func crash(_ node: SimulatedNode) async {
        await stepDown(node, keeping: .out)
        await node.core.stop()
        for sandbox in node.scheduler.sandboxes.values where sandbox.live {
            world.setAnswering(sandbox.url, false)
        }
        node.incarnation += 1
        node.scheduler = SimulatedScheduler()
        node.scheduler.nextSandbox = node.firstSandbox
        node.core = await SimulatedNode.Core.boot(clock: clock, world: world)
        node.seen = 0
        node.known = [:]
        node.reports = [:]
        node.unwritten = []
        node.early = [:]
        node.leases = []
        node.streams = []
        node.joinedAt = nil
        report.restarts += 1
        note("\(node.name) crashes and starts again")
    }

    /// Moves time in thirds of the lease TTL; between them each node's open streams are kept
    /// alive, as its ingress's lease cache does, and each node renews its lease and watches,
    /// as its session and watch do, but for a node whose session `stalling` stalls (a paused
    /// process, a slow link): it wakes up believing what it believed before.
    func tick(by amount: Duration, stalling: SimulatedNode? = nil) async {
        note("time +\(amount.milliseconds) ms\(stalling.map { ", \($0.name)'s session stalls" } ?? "")")
        var left = amount
        while left > .zero {
            let chunk = min(left, Simulation.leaseTTL / 3)
            clock.advance(by: chunk)
            left -= chunk
            for node in nodes {
                for stream in node.streams { await node.core.broker.keepAlive(stream.lease.id) }
                guard node !== stalling else { continue }
                await heartbeat(node)
                await watch(node)
            }
            await settle()
        }
    }
}
