/// What `app.status` and `app.list` report.
public struct AppStatus: Sendable, Hashable {
    public struct Deployment: Sendable, Hashable {
        public var id: DeploymentID
        public var version: String
        public var state: DeploymentState
        public var reason: String?
        public var started: CoreInstant
    }

    public struct Pool: Sendable, Hashable {
        public var id: PoolID
        public var service: String
        public var version: String
        public var desired: Int
        public var scheduler: String?
        /// Why nobody runs the pool, when its scheduler is missing.
        public var waiting: String?
        /// An operator's stop of it, while it serves: `draining` toward 0, or `stopped`.
        public var stop: String?
        public var counts: [SandboxState: Int]
    }

    public var app: AppName
    public var phase: AppPhase
    public var activeVersion: String?
    /// Its routes by `RouteSpec.key`: host and path prefix.
    public var routes: [String]
    public var deployments: [Deployment]
    public var pools: [Pool]
    public var sandboxes: [SandboxStatus]
}

public struct AppSummary: Sendable, Hashable {
    public var app: AppName
    public var phase: AppPhase
    public var activeVersion: String?
    public var latestDeployment: DeploymentID?
    public var latestState: DeploymentState?
}

extension Launcher {
    public func status(app: AppName) async throws(CoreError) -> AppStatus {
        guard let record = apps[app] else { throw .unknownApp(app) }
        let appPools = pools.values.filter { $0.app == app }.sorted { $0.id < $1.id }
        let sandboxes = await broker.sandboxStatuses(pools: Set(appPools.map(\.id)))
        let poolStatuses = appPools.map { pool in
            var counts: [SandboxState: Int] = [:]
            for sandbox in sandboxes where sandbox.pool == pool.id { counts[sandbox.state, default: 0] += 1 }
            return AppStatus.Pool(
                id: pool.id,
                service: pool.spec.name,
                version: pool.version,
                desired: pool.desired,
                scheduler: schedulers.owner(of: pool.spec),
                waiting: pool.desired > 0 ? schedulers.waitingReason(for: pool.spec) : nil,
                stop: stops[pool.id]?.life.name,
                counts: counts
            )
        }
        let deploymentStatuses = record.deployments.compactMap { id in
            deployments[id].map {
                AppStatus.Deployment(
                    id: id,
                    version: $0.request.version,
                    state: $0.state,
                    reason: $0.reason,
                    started: $0.started
                )
            }
        }
        return AppStatus(
            app: app,
            phase: record.phase,
            activeVersion: record.activeVersion,
            routes: routes.filter { $0.value.app == app }.map(\.key).sorted(),
            deployments: deploymentStatuses,
            pools: poolStatuses,
            sandboxes: sandboxes
        )
    }

    public func appSummaries() -> [AppSummary] {
        apps.values.sorted { $0.name < $1.name }.map { record in
            let latest = record.deployments.last
            return AppSummary(
                app: record.name,
                phase: record.phase,
                activeVersion: record.activeVersion,
                latestDeployment: latest,
                latestState: latest.flatMap { deployments[$0]?.state }
            )
        }
    }
}
