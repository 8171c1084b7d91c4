/// What the core holds, whole, for the checks of the simulation and of tests: every
/// sandbox and lease of the broker, every app, pool and deployment of the launcher.
package struct BrokerView: Sendable {
    package struct Sandbox: Sendable {
        package var id: SandboxID
        package var pool: PoolID
        package var state: SandboxState
        package var admitted: Bool
        package var suspect: Bool
        package var slotsOut: Int
        package var capacity: Int
        package var leases: Int
    }

    package struct Lease: Sendable {
        package var id: LeaseID
        package var sandbox: SandboxID
        package var app: AppName
        package var slots: Int
        package var revoked: Bool
        package var stream: Bool
        package var expiresAt: CoreInstant
    }

    package var sandboxes: [SandboxID: Sandbox]
    package var leases: [LeaseID: Lease]
    /// Pools each app's new leases come from, by service.
    package var routing: [AppName: [String: Set<PoolID>]]
    package var waiters: Int
    package var probes: Int
    package var paused: Set<AppName>
    package var halted: Set<PoolID>

    /// Whether a lease for `app` could be granted now: an admitted, ready, unsuspected
    /// sandbox of a pool it routes to, neither paused nor stopped by an operator.
    package func serves(_ app: AppName) -> Bool {
        guard !paused.contains(app) else { return false }
        let routed = Set((routing[app] ?? [:]).values.flatMap { $0 }).subtracting(halted)
        return sandboxes.values.contains {
            routed.contains($0.pool) && $0.state == .ready && $0.admitted && !$0.suspect
        }
    }
}

package struct LauncherView: Sendable {
    package struct App: Sendable, Equatable {
        package var phase: AppPhase
        package var activeVersion: String?
        package var activePools: [String: PoolID]
        package var deployments: [DeploymentID]
    }

    package struct Pool: Sendable, Equatable {
        package var app: AppName
        package var version: String
        package var desired: Int
        package var serving: Bool
        /// The deployment that waits for it, and the one whose drain holds it.
        package var waiter: DeploymentID?
        package var drainHolder: DeploymentID?
        /// An operator's stop of it while it serves: `draining`, or `stopped`.
        package var stop: String?
    }

    package struct Deployment: Sendable, Equatable {
        package var app: AppName
        package var version: String
        package var state: DeploymentState
        package var started: CoreInstant
        package var readyTimeout: Duration
        package var drainTimeout: Duration
        package var waitPools: Set<PoolID>
        package var heldPools: Set<PoolID>
    }

    package var apps: [AppName: App]
    package var pools: [PoolID: Pool]
    package var deployments: [DeploymentID: Deployment]
    package var routes: [String: RouteSpec]
    package var versions: Int
}

extension LeaseBroker {
    package func view() -> BrokerView {
        var sandboxViews: [SandboxID: BrokerView.Sandbox] = [:]
        for record in sandboxes.values {
            let id = record.id
            sandboxViews[id] = BrokerView.Sandbox(
                id: id,
                pool: record.pool,
                state: record.state,
                admitted: record.life.isServing,
                suspect: record.life.isSuspect,
                slotsOut: record.slotsOut,
                capacity: pools[record.pool]?.slotsPerSandbox ?? 0,
                leases: record.leases.count
            )
        }
        var leaseViews: [LeaseID: BrokerView.Lease] = [:]
        for (id, record) in leases {
            leaseViews[id] = BrokerView.Lease(
                id: id,
                sandbox: record.lease.sandbox,
                app: record.lease.app,
                slots: record.lease.slots,
                revoked: record.life.standing == .revoked,
                stream: record.life.carries == .stream,
                expiresAt: record.life.expiresAt
            )
        }
        return BrokerView(
            sandboxes: sandboxViews,
            leases: leaseViews,
            routing: routing,
            waiters: waiters.count,
            probes: probes.count,
            paused: pausedApps,
            halted: haltedPools
        )
    }
}

extension Launcher {
    package func view() -> LauncherView {
        LauncherView(
            apps: apps.mapValues {
                LauncherView.App(
                    phase: $0.phase,
                    activeVersion: $0.activeVersion,
                    activePools: $0.activePools,
                    deployments: $0.deployments
                )
            },
            pools: pools.mapValues { pool in
                LauncherView.Pool(
                    app: pool.app,
                    version: pool.version,
                    desired: pool.desired,
                    serving: pool.life.state == .serving,
                    waiter: pool.life.waiter,
                    drainHolder: pool.life.drainHolder,
                    stop: stops[pool.id]?.life.name
                )
            },
            deployments: deployments.mapValues {
                LauncherView.Deployment(
                    app: $0.request.app,
                    version: $0.request.version,
                    state: $0.state,
                    started: $0.started,
                    readyTimeout: $0.request.readyTimeout,
                    drainTimeout: $0.request.drainTimeout,
                    waitPools: Set($0.waitPools.values),
                    heldPools: $0.life.heldPools
                )
            },
            routes: routes,
            versions: apps.values.reduce(0) { $0 + $1.versions.count }
        )
    }
}
