/// `app.scale`: an operator sets how many sandboxes a service of the active version runs. To
/// 0, the pool first drains as a cutover drains the pool it leaves, so nothing it carries is
/// cut; raised again, or used by a deploy, it serves again.
extension Launcher {
    struct StopRecord {
        var life: PoolStop
        var drainTimeout: Duration
        var timer: Task<Void, Never>?
    }

    public static let instancesRange = 0...Int(WireLimits.instances.upperBound)

    public func scale(app: AppName, service: String, instances: Int, drainTimeout: Duration) async throws(CoreError) {
        try mustLead()
        defer { commit() }
        let record = try operable(app)
        guard let pool = record.activePools[service] else {
            throw CoreError(
                code: .unknownService,
                message:
                    "Unknown service \"\(service)\": the active version of app \"\(app)\" (\(record.activeVersion ?? "none")) has no such service"
            )
        }
        guard Self.instancesRange.contains(instances) else {
            throw .invalidDeploy("instances must be within \(Self.instancesRange); 0 stops the service")
        }
        if instances == 0 { await stop(pool, drainTimeout: drainTimeout) } else { await raise(pool, to: instances) }
        publish(
            .init(
                .poolScaled,
                app: app,
                version: pools[pool]?.version,
                service: service,
                pool: pool,
                reason: "to \(instances) instance(s) by an operator"
            )
        )
    }

    /// The app, unless it is unknown or being removed.
    func operable(_ app: AppName) throws(CoreError) -> AppRecord {
        guard let record = apps[app] else { throw .unknownApp(app) }
        guard record.phase != .removing else { throw .beingRemoved(app) }
        return record
    }

    /// Sets `pool`'s count, ending a stop of it first: its sandboxes serve again.
    func raise(_ pool: PoolID, to desired: Int) async {
        if let stop = stops.removeValue(forKey: pool) {
            stop.timer?.cancel()
            changed.pools.insert(pool)
            await broker.returnToService(pool: pool)
        }
        setDesired(pool, desired)
    }

    /// Stops a serving pool: it takes no new leases, drains, then goes to 0.
    func stop(_ pool: PoolID, drainTimeout: Duration) async {
        guard stops[pool] == nil, (pools[pool]?.desired ?? 0) > 0 else { return }
        let (draining, undrained) = await broker.halt(pool: pool)
        let (life, actions) = PoolStop.begin(
            pool: pool,
            undrained: undrained,
            elsewhere: beginDrainElsewhere(of: pool)
        )
        stops[pool] = StopRecord(life: life, drainTimeout: drainTimeout)
        changed.pools.insert(pool)  // stored as stopping: a restart finishes the stop, a new leader resumes it
        if let record = pools[pool] {
            for sandbox in draining {
                publish(.init(.sandboxDraining, app: record.app, version: record.version, pool: pool, sandbox: sandbox))
            }
        }
        await perform(actions, onStopOf: pool)
    }

    /// A cutover routed the app away from `pool`: the deployment's drain takes it over.
    func dropStop(of pool: PoolID) {
        guard let stop = stops.removeValue(forKey: pool) else { return }
        stop.timer?.cancel()
        changed.pools.insert(pool)
    }

    /// Runs one transition of the stop of `pool` and does what it asks for.
    func step(stopOf pool: PoolID, _ transition: (inout PoolStop) -> [PoolStop.Action]) async {
        guard var life = stops[pool]?.life else { return }
        let actions = transition(&life)
        stops[pool]?.life = life
        await perform(actions, onStopOf: pool)
    }

    private func perform(_ actions: [PoolStop.Action], onStopOf id: PoolID) async {
        for action in actions {
            guard let stop = stops[id], let pool = pools[id] else { return }
            switch action {
            case .scaleToZero(let reason):
                setDesired(id, 0)
                publish(
                    .init(
                        .poolScaledDown,
                        app: pool.app,
                        version: pool.version,
                        service: pool.spec.name,
                        pool: id,
                        reason: reason.rawValue
                    )
                )
                await broker.retire(pool: id)
                await finishRemoval(of: pool.app)
            case .wake(let deadline):
                stop.timer?.cancel()
                let after = deadline == .requestDrain ? stop.drainTimeout : streamDrain
                // Owned by the stop's record: replaced by its next `wake`, cancelled when it ends.
                stops[id]?.timer = alarm(after: after) { await $0.stopDeadlinePassed(deadline, of: id) }
            case .stopTimer:
                stop.timer?.cancel()
                stops[id]?.timer = nil
            }
        }
    }

    private func stopDeadlinePassed(_ deadline: DeploymentLifecycle.Deadline, of pool: PoolID) async {
        switch deadline {
        case .requestDrain:
            let streaming: Set<PoolID> = await holdsStreams(pool) ? [pool] : []
            await step(stopOf: pool) { $0.drain { $0.requestDeadlinePassed(streaming: streaming) } }
        case .streamDrain:
            await step(stopOf: pool) { $0.drain { $0.streamDeadlinePassed() } }
        case .ready:
            return
        }
    }
}
