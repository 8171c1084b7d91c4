import BatonCore
import BatonJSON

/// The events a step may bring, and whether each is a fault: a step without a fault may
/// never take an app from serving to not serving.
enum StepKind: Equatable {
    case calm
    case fault
    /// An operator stopped, paused or removed an app: it may rightly stop serving.
    case held
}

extension Simulation {
    /// One random event of the world.
    func act() async -> StepKind {
        switch Int.random(in: 0..<1000, using: &random) {
        case 0..<40: await deploy()
        case 40..<50: return await operate()
        case 50..<200: startSandbox()
        case 200..<350: readySandbox()
        case 350..<430: stopSandbox()
        case 430..<680: return await deliver()
        case 680..<710: return await deliverOutOfOrder()
        case 710..<730: return await duplicate()
        case 730..<750: return lose()
        case 750..<780: return await resync()
        case 780..<800: return kill()
        case 800..<860: await acquire()
        case 860..<900: await release()
        case 900..<930: await renew()
        case 930..<940: return await invalidate()
        case 940..<960: await openStream()
        case 960..<980: await closeStream()
        case 980..<997: await tick(by: .milliseconds(Int64.random(in: 10...500, using: &random)))
        case 997..<999:
            await tick(
                by: pick([Self.leaseTTL + .milliseconds(1), .seconds(6), .seconds(12), Self.streamDrain + .seconds(5)])!
            )
        default: return await restart()
        }
        return .calm
    }

    // MARK: Operators

    func deploy() async {
        guard let app = pick(Self.apps), let spec = pick(Self.specs) else { return }
        let request = versions.request(app, spec, instances: spec.instances, random: &random)
        let version = request.version
        do {
            let id = try await host.launcher.deploy(request)
            report.deploys += 1
            note("deploy \(app) \(version) (\(spec.image)) → \(id)")
        } catch {
            note("deploy \(app) \(version) refused: \(error.message)")
        }
    }

    // MARK: The scheduler

    func startSandbox() {
        let short = scheduler.desired.values.filter { scheduler.live(in: $0.pool).count < $0.desired }.sorted {
            $0.pool < $1.pool
        }
        guard let pool = pick(short) else { return }
        scheduler.nextSandbox += 1
        let id = SandboxID("s\(scheduler.nextSandbox)")
        let image = pool.spec.spec["image"]?.stringValue ?? ""
        scheduler.sandboxes[id] = SimulatedScheduler.Sandbox(
            id: id,
            pool: pool.pool,
            url: "http://127.0.0.1:\(10_000 + scheduler.nextSandbox)",
            phase: .starting,
            broken: image == "broken"
        )
        scheduler.pending.append(SandboxReport(sandbox: id, pool: pool.pool, state: .starting))
        note("scheduler starts \(id) in \(pool.pool)")
    }

    func readySandbox() {
        guard var sandbox = pick(scheduler.sandboxes.values.filter { $0.phase == .starting }.sorted { $0.id < $1.id })
        else { return }
        sandbox.phase = .ready
        scheduler.sandboxes[sandbox.id] = sandbox
        world.setAnswering(sandbox.url, !sandbox.broken)
        scheduler.pending.append(
            SandboxReport(sandbox: sandbox.id, pool: sandbox.pool, state: .ready, url: sandbox.url)
        )
        note("\(sandbox.id) ready\(sandbox.broken ? " (but never answers)" : "")")
    }

    func stopSandbox() {
        let over = scheduler.desired.values.filter { scheduler.live(in: $0.pool).count > $0.desired }.sorted {
            $0.pool < $1.pool
        }
        guard let pool = pick(over) else { return }
        // As PROTOCOL.md asks: those not ready first, then the newest.
        let order = scheduler.live(in: pool.pool).sorted {
            ($0.phase == .ready ? 1 : 0, -$0.number) < ($1.phase == .ready ? 1 : 0, -$1.number)
        }
        guard var sandbox = order.first else { return }
        sandbox.phase = .stopped
        scheduler.sandboxes[sandbox.id] = sandbox
        world.setAnswering(sandbox.url, false)
        scheduler.pending.append(SandboxReport(sandbox: sandbox.id, pool: sandbox.pool, state: .stopped))
        scheduler.prune()
        note("scheduler stops \(sandbox.id) of \(pool.pool) (desired \(pool.desired))")
    }

    func kill() -> StepKind {
        guard var sandbox = pick(scheduler.sandboxes.values.filter(\.live).sorted { $0.id < $1.id }) else {
            return .calm
        }
        sandbox.phase = .dead
        scheduler.sandboxes[sandbox.id] = sandbox
        world.setAnswering(sandbox.url, false)
        scheduler.pending.append(
            SandboxReport(sandbox: sandbox.id, pool: sandbox.pool, state: .failed, reason: "killed")
        )
        unreportedDeaths.insert(sandbox.id)
        note("\(sandbox.id) dies")
        report.faults += 1
        return .fault
    }

    // MARK: Reports on their way

    private func send(_ report: SandboxReport) async {
        do {
            try await host.broker.report(report, from: "sim")
        } catch {
            note("report refused: \(error.message)")
        }
    }

    /// The next report, in order; the news of a death is part of the fault, and so is any
    /// report while a death is not told yet: the dead sandbox may be what the app was left with.
    func deliver() async -> StepKind {
        guard !scheduler.pending.isEmpty else { return .calm }
        let next = scheduler.pending.removeFirst()
        note("deliver \(next.sandbox) \(next.state)")
        await send(next)
        let deathPending = !unreportedDeaths.isEmpty
        let newsOfADeath = next.state == .failed && unreportedDeaths.remove(next.sandbox) != nil
        return newsOfADeath || deathPending || reportsDisordered ? .fault : .calm
    }

    func deliverOutOfOrder() async -> StepKind {
        guard scheduler.pending.count > 1 else { return .calm }
        let index = Int.random(in: 1..<scheduler.pending.count, using: &random)
        let next = scheduler.pending.remove(at: index)
        note("deliver out of order \(next.sandbox) \(next.state)")
        await send(next)
        report.faults += 1
        reportsDisordered = true
        return .fault
    }

    func duplicate() async -> StepKind {
        guard let next = pick(scheduler.pending) else { return .calm }
        note("deliver a duplicate of \(next.sandbox) \(next.state)")
        await send(next)
        report.faults += 1
        reportsDisordered = true
        return .fault
    }

    func lose() -> StepKind {
        guard !scheduler.pending.isEmpty else { return .calm }
        let lost = scheduler.pending.remove(at: Int.random(in: 0..<scheduler.pending.count, using: &random))
        note("lose \(lost.sandbox) \(lost.state)")
        report.faults += 1
        reportsDisordered = true
        return .fault
    }

    /// The scheduler reconnects: what was in flight is gone, and `scheduler.sync` says all.
    @discardableResult
    func resync() async -> StepKind {
        let wasDisordered = reportsDisordered || !unreportedDeaths.isEmpty
        unreportedDeaths = []
        scheduler.pending = []
        absorbInboxes()
        do {
            try await host.broker.sync(scheduler.truth, from: "sim")
            reportsDisordered = false
            note("sync \(scheduler.truth.count) sandboxes")
        } catch {
            note("sync refused: \(error.message)")
        }
        return wasDisordered ? .fault : .calm
    }

    // MARK: Routers and streams

    func acquire() async {
        guard let app = pick(Self.apps) else { return }
        let view = await host.launcher.view()
        if let lease = try? await host.broker.acquire(app: app, service: "web") {
            checkGranted(lease, before: view)
            leases.append(lease)
            note("router takes \(lease.id) on \(lease.sandbox)")
        }
    }

    func release() async {
        guard let lease = pick(leases) else { return }
        leases.removeAll { $0.id == lease.id }
        await host.broker.release(lease.id)
        note("router releases \(lease.id)")
    }

    func renew() async {
        guard let lease = pick(leases) else { return }
        if (try? await host.broker.renew(lease.id)) == nil {
            leases.removeAll { $0.id == lease.id }
            note("renewal of \(lease.id) refused")
        }
    }

    func invalidate() async -> StepKind {
        guard let lease = pick(leases) else { return .calm }
        leases.removeAll { $0.id == lease.id }
        await host.broker.invalidate(lease.id, reason: "simulated")
        note("router invalidates \(lease.id) on \(lease.sandbox)")
        report.faults += 1
        return .fault
    }

    /// A stream through the ingress: a slot of the lease cache, held until it closes.
    func openStream() async {
        guard let app = pick(Self.apps) else { return }
        let view = await host.launcher.view()
        guard
            let lease = try? await host.cache.checkoutNew(
                app: app,
                service: "web",
                wait: .zero,
                excluding: [],
                onto: host.cache.offLoop
            )
        else { return }
        checkGranted(lease, before: view)
        host.cache.markStream(lease)
        streams.append(lease)
        note("stream opens on \(lease.sandbox) (\(lease.id))")
    }

    func closeStream() async {
        guard let stream = pick(streams) else { return }
        streams.removeAll { $0.id == stream.id }
        host.cache.checkin(stream, to: host.cache.offLoop)
        note("stream on \(stream.sandbox) closes")
    }

    // MARK: Time and restarts

    /// Moves time from one timer's deadline to the next, settling at each, so that timers
    /// run in the order of their deadlines as they would in real time: a lease cache's
    /// renewal before the expiry it prevents.
    func tick(by amount: Duration) async {
        note("time +\(amount.milliseconds) ms")
        let end = clock.now + amount
        while let next = clock.nextDeadline(notAfter: end) {
            clock.advance(by: next - clock.now)
            await settle()
        }
        clock.advance(by: end - clock.now)
        await settle()
    }

    /// The host process ends and a new one starts on the same store: leases and streams die
    /// with it, the scheduler reconnects and syncs.
    func restart() async -> StepKind {
        note("host restarts")
        let before = await host.launcher.view()
        await host.stop()
        leases = []
        streams = []
        host = await SimulatedHost.boot(clock: clock, world: world, store: store)
        resubscribe()
        restartCheck = RestartCheck(before: before, after: await host.launcher.view())
        await settle()
        await resync()
        report.restarts += 1
        return .fault
    }
}
