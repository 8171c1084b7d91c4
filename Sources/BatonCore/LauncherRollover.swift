/// The rollover itself: quorum, cutover, drain, and what happens when time runs out.
extension Launcher {
    /// A broker signal: every node counts it and tells its event watchers; the leader (or a
    /// host alone) also decides what it means for deploys and pools.
    func handle(_ signal: BrokerSignal) async {
        observe(signal)
        guard role == .leading else { return await endLocalDrain(after: signal) }
        await decide(signal)
    }

    private func observe(_ signal: BrokerSignal) {
        let (pool, sandbox, admitted, type, reason): (PoolID, SandboxID, Int, EventType, String?)
        switch signal {
        case .admitted(let id, let which, let count):
            (pool, sandbox, admitted, type, reason) = (id, which, count, .sandboxReady, nil)
        case .failed(let id, let which, let why, let count):
            (pool, sandbox, admitted, type, reason) = (id, which, count, .sandboxFailed, why)
        case .stopped(let id, let which, let count):
            (pool, sandbox, admitted, type, reason) = (id, which, count, .sandboxStopped, nil)
        case .drained: return
        }
        guard let record = pools[pool] else { return }
        pools[pool]?.admitted = admitted
        publish(
            .init(
                type,
                app: record.app,
                version: record.version,
                service: record.spec.name,
                pool: pool,
                sandbox: sandbox,
                reason: reason
            )
        )
    }

    private func decide(_ signal: BrokerSignal) async {
        switch signal {
        case .admitted(let pool, _, _):
            guard let record = pools[pool] else { return }
            if let waiting = waitingDeployment(of: record.app, waitingOn: pool) { await evaluate(waiting) }
        case .failed(let pool, let sandbox, let reason, _):
            guard let record = pools[pool] else { return }
            if let waiting = waitingDeployment(of: record.app, waitingOn: pool) {
                let failures =
                    (deployments[waiting]?.failures ?? []) + [
                        "sandbox \(sandbox) of \(record.spec.name) failed: \(reason)"
                    ]
                deployments[waiting]?.failures = Array(failures.suffix(Self.failuresKept))
                changed.deployments.insert(waiting)
            }
            if record.desired == 0 { await prune(app: record.app) }
        case .stopped(let pool, _, _):
            guard let record = pools[pool] else { return }
            if record.desired == 0 { await prune(app: record.app) }
        case .drained(let pool, let sandbox):
            guard let record = pools[pool] else { return }
            if let id = apps[record.app]?.deployments.first(where: { deployments[$0]?.life.holds(pool) == true }) {
                await step(id) { $0.drain { $0.sandboxDrained(sandbox, of: pool) } }
            } else {
                await step(stopOf: pool) { $0.drain { $0.sandboxDrained(sandbox, of: pool) } }
            }
        }
    }

    private func waitingDeployment(of app: AppName, waitingOn pool: PoolID) -> DeploymentID? {
        apps[app]?.deployments.last {
            deployments[$0]?.state == .waiting && deployments[$0]?.waitPools.values.contains(pool) == true
        }
    }

    private func quorumReached(_ deployment: DeploymentRecord, atLeast floor: (ServiceSpec) -> Int) -> Bool {
        deployment.request.services.allSatisfy { service in
            guard let pool = deployment.waitPools[service.name] else { return true }
            return (pools[pool]?.admitted ?? 0) >= floor(service)
        }
    }

    /// Cuts over the moment every changed service has its quorum.
    func evaluate(_ id: DeploymentID) async {
        guard deployments[id]?.state == .waiting else { return }
        guard readinessGate else { return await step(id) { $0.quorumReached(reason: "readiness gate off") } }
        await refreshAdmitted(id)
        guard let deployment = deployments[id], deployment.state == .waiting,
            quorumReached(deployment, atLeast: \.quorum)
        else { return }
        await step(id) { $0.quorumReached() }
    }

    /// Counts only what serves now: a pool taken back while it drained, or whose sandboxes
    /// died or retired, must not count sandboxes that take no leases. Counts rise only with
    /// the broker's `admitted` signals, so a cutover never comes before the `sandbox.ready`
    /// events of the sandboxes it counted.
    private func refreshAdmitted(_ id: DeploymentID) async {
        guard let waitPools = deployments[id]?.waitPools.values else { return }
        for (pool, count) in await broker.admittedCounts(pools: Set(waitPools)) {
            let counted = min(pools[pool]?.admitted ?? 0, count)  // read first: one access to `pools` at a time
            pools[pool]?.admitted = counted
        }
    }

    /// Runs one transition of deployment `id` and does what it asks for.
    func step(_ id: DeploymentID, _ transition: (inout DeploymentLifecycle) -> [DeploymentLifecycle.Action]) async {
        guard var life = deployments[id]?.life else { return }
        let actions = transition(&life)
        if life != deployments[id]?.life {
            deployments[id]?.life = life
            changed.deployments.insert(id)
        }
        for action in actions {
            guard let deployment = deployments[id] else { return }
            switch action {
            case .cutOver:
                await cutOver(id)
            case .giveUpPools(let reason):
                for pool in deployment.startedPools.sorted() {
                    await step(pool: pool, for: id) { $0.givenUp(by: id, reason: reason) }
                }
            case .release(let pool, let reason):
                await step(pool: pool, for: id) { $0.released(by: id, reason: reason) }
            case .wake(let deadline):
                startTimer(for: id, at: deadline)
            case .stopTimer:
                deployment.timer?.cancel()
                deployments[id]?.timer = nil
            case .announce(let kind):
                publish(
                    .init(
                        kind,
                        app: deployment.request.app,
                        deployment: id,
                        version: deployment.request.version,
                        reason: deployment.reason
                    )
                )
            }
        }
        if let app = deployments[id]?.request.app, deployments[id]?.state.isFinished == true {
            await finishRemoval(of: app)
        }
    }

    func deadlinePassed(_ deadline: DeploymentLifecycle.Deadline, of id: DeploymentID) async {
        switch deadline {
        case .ready: await readyTimeoutPassed(id)
        case .requestDrain: await drainTimeoutPassed(id)
        case .streamDrain: await step(id) { $0.drain { $0.streamDeadlinePassed() } }
        }
    }

    /// Routes the app to the deployment's pools; the pools cut away from start draining.
    private func cutOver(_ id: DeploymentID) async {
        guard let deployment = deployments[id] else { return }
        let app = deployment.request.app
        let routing = deployment.servicePools.mapValues { Set([$0]) }
        let result = await broker.cutover(app: app, servicePools: routing)
        apps[app]?.activeVersion = deployment.request.version
        apps[app]?.activePools = deployment.servicePools
        changed.apps.insert(app)
        // A pool taken back serves again: the older drain that held it is over for it.
        for pool in Set(deployment.servicePools.values).sorted() { await step(pool: pool, for: id) { $0.serves() } }
        for pool in result.draining.keys.sorted() {
            dropStop(of: pool)  // this drain takes over an operator's stop of it
            await step(pool: pool, for: id) { $0.cutAway(by: id) }
        }
        publish(
            .init(
                .deployCutover,
                app: app,
                deployment: id,
                version: deployment.request.version,
                reason: deployments[id]?.reason
            )
        )
        for (pool, sandboxes) in result.draining.sorted(by: { $0.key < $1.key }) {
            for sandbox in sandboxes {
                publish(
                    .init(
                        .sandboxDraining,
                        app: app,
                        deployment: id,
                        version: pools[pool]?.version,
                        pool: pool,
                        sandbox: sandbox
                    )
                )
            }
        }
        let cutAway = result.draining.keys.reduce(into: [PoolID: Set<SandboxID>]()) {
            $0[$1] = result.undrained[$1] ?? []
        }
        let elsewhere = readinessGate ? Set(cutAway.keys.sorted().filter(beginDrainElsewhere)) : []
        await step(id) { $0.cutOverApplied(cutAway: cutAway, elsewhere: elsewhere, gated: readinessGate) }
    }

    /// Pools still draining at the request drain timeout are scaled down, except those whose
    /// sandboxes carry streams: they get until the stream drain deadline.
    func drainTimeoutPassed(_ id: DeploymentID) async {
        guard let held = deployments[id]?.life.heldPools else { return }
        var streaming: Set<PoolID> = []
        for pool in held.sorted() where await holdsStreams(pool) { streaming.insert(pool) }
        await step(id) { $0.drain { $0.requestDeadlinePassed(streaming: streaming) } }
    }

    func readyTimeoutPassed(_ id: DeploymentID) async {
        await refreshAdmitted(id)
        guard let deployment = deployments[id] else { return }
        let request = deployment.request
        let oneReadyPerService = quorumReached(deployment, atLeast: { _ in 1 })
        let progress = readinessSummary(deployment)
        await step(id) {
            $0.readyDeadlinePassed(
                onTimeout: request.onTimeout,
                oneReadyPerService: oneReadyPerService,
                timeout: request.readyTimeout,
                progress: progress,
                failures: deployment.failures
            )
        }
    }

    private func readinessSummary(_ deployment: DeploymentRecord) -> String {
        deployment.request.services.compactMap { service in
            guard let pool = deployment.waitPools[service.name] else { return nil }
            return "\(service.name) \(pools[pool]?.admitted ?? 0) of \(service.quorum) ready"
        }.joined(separator: ", ")
    }
}
