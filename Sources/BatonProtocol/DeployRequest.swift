import BatonJSON

/// One service of a version: what to run (`spec`, opaque to the host and passed to the
/// scheduler), how many, and how readiness is judged.
public struct ServiceSpec: Sendable, Hashable {
    public var name: String
    public var instances: Int
    public var spec: JSON
    public var health: HealthCheck?
    /// How many sandboxes must be ready before cutover; all `instances` by default.
    public var minReady: Int?
    /// The scheduler that runs it, by the name it gives at hello; the default one if nil.
    public var scheduler: String?
    /// Slots one sandbox offers to leases.
    public var slotsPerSandbox: Int

    public static let defaultSlotsPerSandbox = 64

    public init(
        name: String,
        instances: Int,
        spec: JSON,
        health: HealthCheck? = nil,
        minReady: Int? = nil,
        scheduler: String? = nil,
        slotsPerSandbox: Int = ServiceSpec.defaultSlotsPerSandbox
    ) {
        self.name = name
        self.instances = instances
        self.spec = spec
        self.health = health
        self.minReady = minReady
        self.scheduler = scheduler
        self.slotsPerSandbox = slotsPerSandbox
    }

    /// Sandboxes that must be ready for this service to count as ready.
    public var quorum: Int { min(max(minReady ?? instances, 1), instances) }
}

/// What to do when a version does not become ready in time.
public enum TimeoutPolicy: String, Sendable, Hashable {
    /// Keep the old version, give up on the new one.
    case rollback
    /// Cut over anyway if every changed service has a ready sandbox; roll back otherwise.
    case proceed
}

/// A request to run `version` of `app`.
public struct DeployRequest: Sendable, Hashable {
    public var app: AppName
    public var version: String
    public var services: [ServiceSpec]
    public var readyTimeout: Duration
    public var drainTimeout: Duration
    public var onTimeout: TimeoutPolicy
    /// The caller's key for this deploy: the same deploy sent again with it (a retry after a
    /// lost answer) is the same deploy, not a second one.
    public var requestID: String?

    public static let defaultReadyTimeout = Duration.seconds(60)
    public static let defaultDrainTimeout = Duration.seconds(30)

    public init(
        app: AppName,
        version: String,
        services: [ServiceSpec],
        readyTimeout: Duration = DeployRequest.defaultReadyTimeout,
        drainTimeout: Duration = DeployRequest.defaultDrainTimeout,
        onTimeout: TimeoutPolicy = .rollback,
        requestID: String? = nil
    ) {
        self.app = app
        self.version = version
        self.services = services
        self.readyTimeout = readyTimeout
        self.drainTimeout = drainTimeout
        self.onTimeout = onTimeout
        self.requestID = requestID
    }
}
