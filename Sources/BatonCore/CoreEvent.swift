/// Something the launcher did or saw, as `events.watch` delivers it.
public struct CoreEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case deployStarted = "deploy.started"
        case poolCreated = "pool.created"
        case sandboxReady = "sandbox.ready"
        case deployCutover = "deploy.cutover"
        case sandboxDraining = "sandbox.draining"
        case sandboxFailed = "sandbox.failed"
        case sandboxStopped = "sandbox.stopped"
        case poolScaledDown = "pool.scaled_down"
        case deployDone = "deploy.done"
        case deployFailed = "deploy.failed"
        case deploySuperseded = "deploy.superseded"
    }

    public var timeMs: Int64
    public var kind: Kind
    public var app: String
    public var deployment: String?
    public var version: String?
    public var service: String?
    public var pool: String?
    public var sandbox: String?
    public var reason: String?
}

/// A deployment's progress.
public enum DeploymentState: String, Sendable, Hashable {
    case waiting, cutover, draining, done, failed, superseded
}

/// One pool as a scheduler must run it.
public struct DesiredPool: Sendable, Hashable {
    public var pool: String
    public var app: String
    public var version: String
    public var service: String
    public var desired: Int
    public var spec: ServiceSpec
}

/// A change of desired state for one scheduler; `seq` rises by one each time.
public struct DesiredUpdate: Sendable, Hashable {
    public var seq: Int
    public var pools: [DesiredPool]
}
