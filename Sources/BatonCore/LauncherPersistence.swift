/// What the launcher writes to its store, and how it comes back after a restart.
struct ChangedRecords {
    var apps: Set<AppName> = []
    var versions: Set<VersionKey> = []
    var pools: Set<PoolID> = []
    var deployments: Set<DeploymentID> = []
    /// By `RouteSpec.key`.
    var routes: Set<String> = []
    var removed: Set<StoredKey> = []
}

struct VersionKey: Hashable {
    var app: AppName
    var version: String
}

extension Launcher {
    /// Queues every record changed since the last call, as it is now.
    func commit() {
        // Removals first: a version forgotten and deployed again in one commit is kept.
        var out: [StoredChange] = changed.removed.sorted { "\($0)" < "\($1)" }.map { .removed($0) }
        for name in changed.apps.sorted() {
            guard let app = apps[name] else { continue }
            out.append(
                .app(
                    StoredApp(
                        name: name,
                        phase: app.phase,
                        activeVersion: app.activeVersion,
                        activePools: app.activePools
                    )
                )
            )
        }
        for key in changed.versions.sorted(by: { ($0.app, $0.version) < ($1.app, $1.version) }) {
            guard let services = apps[key.app]?.versions[key.version] else { continue }
            out.append(.version(StoredVersion(app: key.app, version: key.version, services: services)))
        }
        for id in changed.pools.sorted() {
            guard let pool = pools[id] else { continue }
            out.append(
                .pool(
                    StoredPool(
                        id: id,
                        app: pool.app,
                        version: pool.version,
                        spec: pool.spec,
                        desired: pool.desired,
                        stopDrain: stops[id].flatMap { $0.life.isDraining ? $0.drainTimeout : nil }
                    )
                )
            )
        }
        for id in changed.deployments.sorted(by: Self.creationOrder) {
            guard let deployment = deployments[id] else { continue }
            out.append(
                .deployment(
                    StoredDeployment(
                        id: id,
                        request: deployment.request,
                        state: deployment.state,
                        reason: deployment.reason,
                        servicePools: deployment.servicePools,
                        waitPools: deployment.waitPools,
                        startedPools: deployment.startedPools.sorted(),
                        failures: deployment.failures
                    )
                )
            )
        }
        for key in changed.routes.sorted() { out.append(.route(key: key, route: routes[key])) }
        changed = ChangedRecords()
        if !out.isEmpty { store.enqueue(out) }
        tellDrainsElsewhere()
    }

    /// Returns once every change made so far is durable: an admin call is answered after it.
    public func durable() async throws {
        try await store.flush()
    }

    /// What becomes of the drains a restore finds under way.
    enum RestoredDrains {
        /// They end and their pools are scaled down: the leases they waited for died with the
        /// old host process.
        case end
        /// They go on, from now, with every lease this node's broker and the cluster's other
        /// nodes still have on their pools: a node takes the lead of its cluster.
        case resume
    }

    /// Takes back what the store kept, before any scheduler or client connects. Pools and
    /// routing come back as they were; sandboxes come back as their schedulers report them.
    /// A deploy that was waiting for readiness waits again, for its whole ready timeout from
    /// now. A deploy that was draining ends: the leases it waited for died with the old host
    /// process, so its old pools are scaled down.
    public func restore(from store: any LauncherStore) async throws {
        try await restore(from: store, drains: .end)
    }

    /// As `restore(from:)`, with the drains under way ending or going on.
    func restore(from store: any LauncherStore, drains: RestoredDrains) async throws {
        let state = try store.load()
        self.store = store
        (apps, pools, deployments) = records(of: state)
        nextPool = pools.keys.map(Self.number).max() ?? 0
        nextDeployment = deployments.keys.map(Self.number).max() ?? 0
        routes = state.routes
        for app in apps.keys.sorted() { await broker.registerApp(app) }
        for pool in pools.values.sorted(by: { $0.id < $1.id }) { await broker.registerPool(pool.info) }
        let stopsDraining = state.pools.compactMap { pool in pool.stopDrain.map { (pool: pool.id, drain: $0) } }
        if drains == .end {
            // The leases an operator's stop waited for died with the old host process.
            for stop in stopsDraining {
                pools[stop.pool]?.desired = 0
                changed.pools.insert(stop.pool)
            }
        }
        // A pool stored at 0 may still have sandboxes its scheduler is stopping.
        for pool in pools.values.sorted(by: { $0.id < $1.id }) where pool.desired == 0 {
            await broker.retire(pool: pool.id)
        }
        for app in apps.values.sorted(by: { $0.name < $1.name }) {
            if app.phase != .serving { await broker.pause(app: app.name, reason: .paused) }
            guard !app.activePools.isEmpty else { continue }
            _ = await broker.cutover(app: app.name, servicePools: app.activePools.mapValues { Set([$0]) })
            // A serving pool stored at 0 was stopped by an operator, or was being stopped.
            for pool in app.activePools.values.sorted() where pools[pool]?.desired == 0 {
                stops[pool] = StopRecord(life: .restored, drainTimeout: .zero)
                _ = await broker.halt(pool: pool)
            }
        }
        routesChanged(routes)
        await resumeDeployments(drains: drains)
        if drains == .resume {
            for stop in stopsDraining { await self.stop(stop.pool, drainTimeout: stop.drain) }
        }
        for app in apps.keys.sorted() { await finishRemoval(of: app) }
        commit()
        logger.info(
            "state restored",
            metadata: ["apps": "\(apps.count)", "pools": "\(pools.count)", "deployments": "\(deployments.count)"]
        )
    }

    /// The records `state` holds, deploys with no timer; what only this process knows of a
    /// record still here (a pool's admitted count, when a deploy started) is kept.
    func records(
        of state: StoredState
    ) -> (apps: [AppName: AppRecord], pools: [PoolID: PoolRecord], deployments: [DeploymentID: DeploymentRecord]) {
        var apps: [AppName: AppRecord] = [:]
        for app in state.apps {
            apps[app.name] = AppRecord(
                name: app.name,
                phase: app.phase,
                activeVersion: app.activeVersion,
                activePools: app.activePools
            )
        }
        for version in state.versions {
            apps[version.app, default: AppRecord(name: version.app)].versions[version.version] = version.services
        }
        var pools: [PoolID: PoolRecord] = [:]
        for pool in state.pools {
            pools[pool.id] = PoolRecord(
                id: pool.id,
                app: pool.app,
                version: pool.version,
                spec: pool.spec,
                desired: pool.desired,
                admitted: self.pools[pool.id]?.admitted ?? 0
            )
        }
        var deployments: [DeploymentID: DeploymentRecord] = [:]
        for stored in state.deployments {
            var deployment = DeploymentRecord(
                id: stored.id,
                request: stored.request,
                started: self.deployments[stored.id]?.started ?? clock.now
            )
            deployment.life = DeploymentLifecycle(restored: stored.state, reason: stored.reason)
            deployment.servicePools = stored.servicePools
            deployment.waitPools = stored.waitPools
            deployment.startedPools = Set(stored.startedPools)
            deployment.failures = stored.failures
            deployments[stored.id] = deployment
            apps[stored.request.app, default: AppRecord(name: stored.request.app)].deployments.append(stored.id)
        }
        return (apps, pools, deployments)
    }

    private func resumeDeployments(drains: RestoredDrains) async {
        // Each app's last drain under way goes on, when drains do, with every pool left over.
        var drainers: [AppName: DeploymentID] = [:]
        for id in deployments.keys.sorted(by: Self.creationOrder) {
            guard let deployment = deployments[id] else { continue }
            if deployment.state == .waiting {
                logger.info(
                    "deploy resumes its wait",
                    metadata: ["deployment": "\(id)", "app": "\(deployment.request.app)"]
                )
            }
            if drains == .resume, deployment.state == .draining || deployment.state == .cutover {
                drainers[deployment.request.app] = id
            } else {
                await step(id) { $0.hostRestarted() }
            }
        }
        // Pools that neither serve nor are waited for nor drain have no reason left to run.
        var leftOver: [DeploymentID: [PoolID]] = [:]
        for id in pools.keys.sorted() {
            guard let pool = pools[id], let app = apps[pool.app] else { continue }
            let waiter = app.deployments.last {
                deployments[$0]?.state == .waiting && deployments[$0]?.waitPools.values.contains(id) == true
            }
            let serving = app.activePools.values.contains(id)
            let drainer = serving || waiter != nil || pool.desired == 0 ? nil : drainers[pool.app]
            if let drainer { leftOver[drainer, default: []].append(id) }
            await step(pool: id, for: nil) { life in
                let (restored, actions) = PoolLifecycle.restored(
                    serving: serving,
                    waitedForBy: waiter,
                    drainedFor: drainer,
                    running: pool.desired > 0
                )
                life = restored
                return actions
            }
        }
        for id in drainers.values.sorted(by: Self.creationOrder) {
            await resumeDrain(of: id, pools: leftOver[id] ?? [])
        }
    }

    /// Deployment `id`'s drain goes on from now, for `pools`: their sandboxes here that still
    /// carry something, and the other nodes, hold them.
    private func resumeDrain(of id: DeploymentID, pools: [PoolID]) async {
        var cutAway: [PoolID: Set<SandboxID>] = [:]
        for pool in pools { cutAway[pool] = await broker.undrained(pool: pool) }
        let elsewhere = Set(pools.filter(beginDrainElsewhere))
        logger.info("deploy resumes its drain", metadata: ["deployment": "\(id)", "pools": "\(pools)"])
        await step(id) { $0.drainResumed(cutAway: cutAway, elsewhere: elsewhere) }
    }

    /// "d-12" → 12: ids are numbered in the order they were made.
    static func number<Kind>(in id: Identifier<Kind>) -> Int {
        Int(id.rawValue.split(separator: "-").last ?? "") ?? 0
    }

    static func creationOrder(_ left: DeploymentID, _ right: DeploymentID) -> Bool {
        number(in: left) < number(in: right)
    }
}
