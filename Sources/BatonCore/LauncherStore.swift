/// Where the launcher keeps what must outlive the host process: apps, versions, pools with
/// their desired counts, deployments with their state and reason, and routes. Sandboxes,
/// leases and slots are not kept: they are rebuilt from scheduler reports after a restart.
public protocol LauncherStore: Sendable {
    /// Everything kept, as the last run left it.
    func load() throws -> StoredState
    /// Queues changes to be written in the order queued; returns at once.
    func enqueue(_ changes: [StoredChange])
    /// Returns once every change queued before the call is durable; throws when one could
    /// not be written.
    func flush() async throws
}

public struct StoredApp: Sendable, Hashable {
    public var name: AppName
    public var phase: AppPhase
    public var activeVersion: String?
    /// service → pool serving the active version.
    public var activePools: [String: PoolID]

    public init(name: AppName, phase: AppPhase, activeVersion: String?, activePools: [String: PoolID]) {
        self.name = name
        self.phase = phase
        self.activeVersion = activeVersion
        self.activePools = activePools
    }
}

public struct StoredVersion: Sendable, Hashable {
    public var app: AppName
    public var version: String
    public var services: [ServiceSpec]

    public init(app: AppName, version: String, services: [ServiceSpec]) {
        self.app = app
        self.version = version
        self.services = services
    }
}

public struct StoredPool: Sendable, Hashable {
    public var id: PoolID
    public var app: AppName
    public var version: String
    public var spec: ServiceSpec
    public var desired: Int
    /// While an operator's stop drains the pool: the drain's timeout. The pool keeps its
    /// count (its sandboxes carry what they hold) until the stop ends and stores it at 0.
    public var stopDrain: Duration?

    public init(
        id: PoolID,
        app: AppName,
        version: String,
        spec: ServiceSpec,
        desired: Int,
        stopDrain: Duration? = nil
    ) {
        self.id = id
        self.app = app
        self.version = version
        self.spec = spec
        self.desired = desired
        self.stopDrain = stopDrain
    }
}

public struct StoredDeployment: Sendable, Hashable {
    public var id: DeploymentID
    public var request: DeployRequest
    public var state: DeploymentState
    public var reason: String?
    /// service → pool, for every service of the version.
    public var servicePools: [String: PoolID]
    /// The pools the cutover waits for, by service.
    public var waitPools: [String: PoolID]
    /// Pools this deploy started or brought back, which a rollback scales down.
    public var startedPools: [PoolID]
    public var failures: [String]

    public init(
        id: DeploymentID,
        request: DeployRequest,
        state: DeploymentState,
        reason: String?,
        servicePools: [String: PoolID],
        waitPools: [String: PoolID],
        startedPools: [PoolID],
        failures: [String]
    ) {
        self.id = id
        self.request = request
        self.state = state
        self.reason = reason
        self.servicePools = servicePools
        self.waitPools = waitPools
        self.startedPools = startedPools
        self.failures = failures
    }
}

/// One record as it is now; writing it replaces what was kept under its key.
public enum StoredChange: Sendable, Hashable {
    case app(StoredApp)
    case version(StoredVersion)
    case pool(StoredPool)
    case deployment(StoredDeployment)
    /// A route set, or removed when `route` is nil; `key` is `RouteSpec.key`.
    case route(key: String, route: RouteSpec?)
    /// A record forgotten: history past what the host keeps.
    case removed(StoredKey)
}

/// The key of a record that can be forgotten.
public enum StoredKey: Sendable, Hashable {
    /// The app and everything of it: versions, pools, deployments.
    case app(AppName)
    case version(app: AppName, version: String)
    case pool(PoolID)
    case deployment(DeploymentID)
}

public struct StoredState: Sendable, Hashable {
    public var apps: [StoredApp]
    public var versions: [StoredVersion]
    public var pools: [StoredPool]
    /// In the order they were made.
    public var deployments: [StoredDeployment]
    /// By `RouteSpec.key`.
    public var routes: [String: RouteSpec]

    public init(
        apps: [StoredApp] = [],
        versions: [StoredVersion] = [],
        pools: [StoredPool] = [],
        deployments: [StoredDeployment] = [],
        routes: [String: RouteSpec] = [:]
    ) {
        self.apps = apps
        self.versions = versions
        self.pools = pools
        self.deployments = deployments
        self.routes = routes
    }
}

/// Keeps nothing: for a host that starts empty every time, and for tests of the core alone.
public struct EphemeralStore: LauncherStore {
    public init() {}
    public func load() throws -> StoredState { StoredState() }
    public func enqueue(_ changes: [StoredChange]) {}
    public func flush() async throws {}
}
