/// The rollover itself: quorum, cutover, drain, and what happens when time runs out.
extension Launcher {
    func handle(_ signal: BrokerSignal) async {
        switch signal {
        case .admitted(let pool, let sandbox, let admitted):
            guard let record = pools[pool] else { return }
            pools[pool]?.admitted = admitted
            publish(.sandboxReady, app: record.app, version: record.version, service: record.spec.name, pool: pool, sandbox: sandbox)
            if let waiting = waitingDeployment(of: record.app, waitingOn: pool) { await evaluate(waiting) }
        case .failed(let pool, let sandbox, let reason, let admitted):
            guard let record = pools[pool] else { return }
            pools[pool]?.admitted = admitted
            publish(.sandboxFailed, app: record.app, version: record.version, service: record.spec.name, pool: pool, sandbox: sandbox, reason: reason)
            if let waiting = waitingDeployment(of: record.app, waitingOn: pool) {
                let failures = (deployments[waiting]?.failures ?? []) + ["sandbox \(sandbox) of \(record.spec.name) failed: \(reason)"]
                deployments[waiting]?.failures = Array(failures.suffix(Self.failuresKept))
                changed.deployments.insert(waiting)
            }
            if record.desired == 0 { await prune(app: record.app) }
        case .stopped(let pool, let sandbox, let admitted):
            pools[pool]?.admitted = admitted
            guard let record = pools[pool] else { return }
            publish(.sandboxStopped, app: record.app, version: record.version, service: record.spec.name, pool: pool, sandbox: sandbox)
            if record.desired == 0 { await prune(app: record.app) }
        case .drained(let pool, let sandbox):
            guard let record = pools[pool],
                let id = apps[record.app]?.deployments.first(where: { deployments[$0]?.drain?.holds(pool) == true })
            else { return }
            await drain(id) { $0.sandboxDrained(sandbox, of: pool) }
        }
    }

    private func waitingDeployment(of app: String, waitingOn pool: String) -> String? {
        apps[app]?.deployments.last { deployments[$0]?.state == .waiting && deployments[$0]?.waitPools.values.contains(pool) == true }
    }

    private func quorumReached(_ deployment: DeploymentRecord, atLeast floor: (ServiceSpec) -> Int) -> Bool {
        deployment.request.services.allSatisfy { service in
            guard let pool = deployment.waitPools[service.name] else { return true }
            return (pools[pool]?.admitted ?? 0) >= floor(service)
        }
    }

    /// Cuts over the moment every changed service has its quorum.
    func evaluate(_ id: String) async {
        guard deployments[id]?.state == .waiting else { return }
        guard readinessGate else { return await cutover(id, reason: "readiness gate off") }
        await refreshAdmitted(id)
        guard let deployment = deployments[id], deployment.state == .waiting, quorumReached(deployment, atLeast: \.quorum) else { return }
        await cutover(id, reason: nil)
    }

    /// Counts only what serves now: a pool taken back while it drained, or whose sandboxes
    /// died or retired, must not count sandboxes that take no leases. Counts rise only with
    /// the broker's `admitted` signals, so a cutover never comes before the `sandbox.ready`
    /// events of the sandboxes it counted.
    private func refreshAdmitted(_ id: String) async {
        guard let waitPools = deployments[id]?.waitPools.values else { return }
        for (pool, count) in await broker.admittedCounts(pools: Set(waitPools)) {
            let counted = min(pools[pool]?.admitted ?? 0, count)  // read first: one access to `pools` at a time
            pools[pool]?.admitted = counted
        }
    }

    private func cutover(_ id: String, reason: String?) async {
        guard var deployment = deployments[id], deployment.state == .waiting else { return }
        deployment.timer?.cancel()
        deployment.state = .cutover
        deployment.reason = reason
        deployments[id] = deployment
        changed.deployments.insert(id)
        let app = deployment.request.app
        let routing = deployment.servicePools.mapValues { Set([$0]) }
        let result = await broker.cutover(app: app, servicePools: routing)
        apps[app]?.activeVersion = deployment.request.version
        apps[app]?.activePools = deployment.servicePools
        changed.apps.insert(app)
        // A pool taken back serves again: the older drains that held it are over for it.
        for pool in Set(deployment.servicePools.values).sorted() {
            while let holder = drainHolder(of: pool, other: id) { await drain(holder) { $0.poolServesAgain(pool) } }
        }
        publish(.deployCutover, app: app, deployment: id, version: deployment.request.version, reason: reason)
        for (pool, sandboxes) in result.draining.sorted(by: { $0.key < $1.key }) {
            for sandbox in sandboxes {
                publish(.sandboxDraining, app: app, deployment: id, version: pools[pool]?.version, pool: pool, sandbox: sandbox)
            }
        }
        for pool in result.draining.keys.sorted() where result.undrained[pool] == nil || !readinessGate {
            await scaleDown(pool, reason: readinessGate ? .drained : .readinessGateOff, deployment: id)
        }
        deployments[id]?.drain = DrainLifecycle(holding: readinessGate ? result.undrained : [:])
        deployments[id]?.state = .draining
        startTimer(for: id, afterMs: deployment.request.drainTimeoutMs) { launcher in await launcher.drainTimeoutPassed(id) }
        await drain(id) { $0.begin() }
    }

    /// Runs one transition of deployment `id`'s drain and does what it asks for.
    func drain(_ id: String, _ transition: (inout DrainLifecycle) -> [DrainLifecycle.Action]) async {
        guard deployments[id]?.state == .draining, var drain = deployments[id]?.drain else { return }
        let actions = transition(&drain)
        deployments[id]?.drain = drain
        for action in actions {
            switch action {
            case .release(let pool, let reason):
                await scaleDown(pool, reason: reason, deployment: id)
            case .waitForStreams:
                startTimer(for: id, afterMs: streamDrainMs) { launcher in await launcher.drain(id) { $0.streamDeadlinePassed() } }
            case .finish:
                guard let deployment = deployments[id], deployment.state == .draining else { continue }
                deployment.timer?.cancel()
                deployments[id]?.state = .done
                changed.deployments.insert(id)
                publish(.deployDone, app: deployment.request.app, deployment: id, version: deployment.request.version)
            }
        }
    }

    /// Pools still draining at the request drain timeout are scaled down, except those whose
    /// sandboxes carry streams: they get until the stream drain deadline.
    func drainTimeoutPassed(_ id: String) async {
        guard let held = deployments[id]?.drain?.holding.keys else { return }
        var streaming: Set<String> = []
        for pool in held.sorted() where await broker.holdsStreams(pool: pool) { streaming.insert(pool) }
        await drain(id) { $0.requestDeadlinePassed(streaming: streaming) }
    }

    func readyTimeoutPassed(_ id: String) async {
        await refreshAdmitted(id)
        guard let deployment = deployments[id], deployment.state == .waiting else { return }
        let progress = readinessSummary(deployment)
        if deployment.request.onTimeout == .proceed, quorumReached(deployment, atLeast: { _ in 1 }) {
            await cutover(id, reason: "proceeded after \(deployment.request.readyTimeoutMs) ms with \(progress)")
            return
        }
        var reason = "not ready after \(deployment.request.readyTimeoutMs) ms: \(progress)"
        if !deployment.failures.isEmpty {
            reason += "; \(deployment.failures.count) sandbox(es) failed: " + deployment.failures.joined(separator: "; ")
        }
        deployments[id]?.state = .failed
        deployments[id]?.reason = reason
        changed.deployments.insert(id)
        let active = Set(apps[deployment.request.app]?.activePools.values ?? [:].values)
        for pool in deployment.startedPools.subtracting(active).sorted() {
            await giveUp(pool, reason: .rollback, deployment: id)
        }
        publish(.deployFailed, app: deployment.request.app, deployment: id, version: deployment.request.version, reason: reason)
    }

    private func readinessSummary(_ deployment: DeploymentRecord) -> String {
        deployment.request.services.compactMap { service in
            guard let pool = deployment.waitPools[service.name] else { return nil }
            return "\(service.name) \(pools[pool]?.admitted ?? 0) of \(service.quorum) ready"
        }.joined(separator: ", ")
    }
}
