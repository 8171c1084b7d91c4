/// Whether a launcher decides (it runs alone, or leads its cluster) or copies what its
/// cluster's leader decided (docs/cluster.md, "Followers").
public enum LauncherRole: Sendable, Hashable {
    case leading
    /// It copies the leader's decisions; `why` says why it does not lead, for the callers it refuses.
    case following(why: String)
}

/// A follower's launcher: a copy of the leader's stored state, applied to this node's broker,
/// schedulers and routes. It decides nothing itself: it starts no timer and evaluates no
/// deploy, and what it copies is never written back.
extension Launcher {
    /// Refuses a call that changes state on a follower: only the leader decides.
    func mustLead() throws(CoreError) {
        if case .following(let why) = role { throw .notLeading(why) }
    }

    /// The live nodes changed: this node's schedulers run its share of every pool from now on.
    public func share(_ shares: NodeShares) {
        guard shares != self.shares else { return }
        self.shares = shares
        schedulers.publish(pools.values.sorted { $0.id < $1.id }.map(publishedPool))
    }

    /// Makes this launcher a follower, for the reason `why`: its timers stop and it writes
    /// nothing from now on. A follower told a new reason only changes what it answers.
    public func follow(_ why: String) {
        if role == .leading {
            stop()
            store = EphemeralStore()
            elsewhere.forget()
        }
        role = .following(why: why)
    }

    /// Makes this launcher lead from `store`, the cluster's state: it starts afresh from it, as
    /// a restarting host does, and resumes the deploys that wait; unlike a restarting host, it
    /// resumes the drains too, since the leases they wait for live on, here and on other nodes.
    public func lead(from store: any LauncherStore) async throws {
        stop()
        role = .leading
        apps = [:]
        pools = [:]
        deployments = [:]
        stops = [:]
        routes = [:]
        elsewhere.forget()
        for drain in localDrains.values { drain.timer?.cancel() }
        localDrains = [:]  // the drains it leads from now on hold the pools, its own leases included
        try await restore(from: store, drains: .resume)
    }

    /// Applies the leader's state as `state` now holds it; only what changed reaches the
    /// broker, the schedulers and the routes.
    public func copy(_ state: StoredState) async {
        guard role != .leading else { return }
        let before = (apps: apps, pools: pools, wanted: wantedPools(), stopped: Set(stops.keys))
        copyRecords(state)
        // In the order the leader made them: new apps and pools, the routing, then counts.
        for app in apps.keys.sorted() where before.apps[app] == nil { await broker.registerApp(app) }
        for pool in pools.values.sorted(by: { $0.id < $1.id }) where before.pools[pool.id] == nil {
            await broker.registerPool(pool.info)
        }
        // A pool the leader took back (a rollback to it, or an operator's stop lifted): its
        // sandboxes here serve again, as the leader's do.
        for pool in wantedPools().subtracting(before.wanted).sorted() where before.pools[pool] != nil {
            await broker.returnToService(pool: pool)
        }
        for app in apps.values.sorted(by: { $0.name < $1.name }) {
            await copyPhase(of: app, from: before.apps[app.name]?.phase)
            if app.activePools != before.apps[app.name]?.activePools, !app.activePools.isEmpty {
                _ = await broker.cutover(app: app.name, servicePools: app.activePools.mapValues { Set([$0]) })
                logger.info(
                    "copied the leader's cutover",
                    metadata: ["app": "\(app.name)", "version": "\(app.activeVersion ?? "-")"]
                )
            }
        }
        let changedPools = pools.values.sorted(by: { $0.id < $1.id }).filter { pool in
            before.pools[pool.id]?.desired != pool.desired || before.pools[pool.id]?.spec != pool.spec
        }
        for pool in changedPools {
            let earlier = before.pools[pool.id]?.desired ?? 0
            if pool.desired == 0, earlier > 0, stops[pool.id] == nil {
                await holdLocally(pool.id, at: earlier)
            } else {
                await endLocalDrain(of: pool.id)
            }
        }
        if !changedPools.isEmpty { schedulers.publish(changedPools.map(publishedPool)) }
        // A pool an operator stops drains here too, at its count, until the leader stores it at 0.
        for pool in Set(stops.keys).subtracting(before.stopped).sorted() { _ = await broker.halt(pool: pool) }
        // A pool held here is retired once the hold ends: until then its sandboxes drain.
        for pool in changedPools where pool.desired == 0 && stops[pool.id] == nil && localDrains[pool.id] == nil {
            await broker.retire(pool: pool.id)
        }
        // A pool the store never had (a deposed leader's, never written) goes without passing
        // through 0: its scheduler is told to stop it first.
        let gone = before.pools.values.filter { pools[$0.id] == nil }.sorted { $0.id < $1.id }
        let running = gone.filter { $0.desired > 0 }
        if !running.isEmpty { schedulers.publish(running.map(stoppedPool)) }
        for pool in gone {
            await endLocalDrain(of: pool.id)
            await broker.forget(pool: pool.id)
        }
        for app in before.apps.keys.sorted() where apps[app] == nil { await broker.forget(app: app) }
    }

    /// The pools at a count above 0 that serve with no stop, or that a waiting deploy waits
    /// for: a pool at 0 is retired here, whatever waits for it, until its count rises.
    private func wantedPools() -> Set<PoolID> {
        let serving = apps.values.flatMap(\.activePools.values).filter { stops[$0] == nil }
        let waitedFor = deployments.values.filter { $0.state == .waiting }.flatMap(\.waitPools.values)
        return Set(serving + waitedFor).filter { (pools[$0]?.desired ?? 0) > 0 }
    }

    /// The records as `state` holds them, the operators' stops, and the routes.
    private func copyRecords(_ state: StoredState) {
        (apps, pools, deployments) = records(of: state)
        stops = [:]
        for pool in state.pools {
            guard apps[pool.app]?.activePools.values.contains(pool.id) == true else { continue }
            if let drain = pool.stopDrain {
                stops[pool.id] = StopRecord(life: .copiedDrain, drainTimeout: drain)
            } else if pool.desired == 0 {
                stops[pool.id] = StopRecord(life: .restored, drainTimeout: .zero)
            }
        }
        if routes != state.routes {
            routes = state.routes
            routesChanged(routes)
        }
    }

    private func copyPhase(of app: AppRecord, from earlier: AppPhase?) async {
        guard app.phase != earlier else { return }
        switch app.phase {
        case .serving: if earlier != nil { await broker.resume(app: app.name) }
        case .paused: await broker.pause(app: app.name, reason: .paused)
        case .removing: await broker.pause(app: app.name, reason: .draining)
        }
    }
}
