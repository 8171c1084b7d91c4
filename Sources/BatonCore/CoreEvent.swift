/// Something the launcher did or saw, as `events.watch` delivers it.
@dynamicMemberLookup
public struct CoreEvent: Sendable, Hashable {
    public var time: CoreInstant
    public var subject: EventSubject

    public subscript<Value>(dynamicMember field: KeyPath<EventSubject, Value>) -> Value { subject[keyPath: field] }
}

/// Why a pool was scaled to 0; the raw value is the `reason` of its `pool.scaled_down` event
/// and a metric label.
public enum ScaleDownReason: String, Sendable, Hashable {
    /// Its sandboxes finished what they carried.
    case drained
    /// The request drain timeout passed first.
    case drainTimeout = "drain timeout"
    /// Streams kept it past the request drain timeout, up to the stream drain deadline.
    case streamDrainDeadline = "stream drain deadline"
    case superseded
    case rollback
    /// It neither served nor was waited for when the host came back.
    case hostRestarted = "host restarted"
    /// No drain at all: the rollover the seed system did, shown by the demo.
    case readinessGateOff = "readiness gate off"
}

/// What an operator made of an app: it serves, is paused (`app.pause`), or drains toward
/// being forgotten (`app.remove`).
public enum AppPhase: String, Sendable, Hashable {
    case serving, paused, removing
}

/// A deployment's progress.
public enum DeploymentState: String, Sendable, Hashable {
    case waiting, cutover, draining, done, failed, superseded
}

/// One pool as a scheduler must run it.
public struct DesiredPool: Sendable, Hashable {
    public var pool: PoolID
    public var app: AppName
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
