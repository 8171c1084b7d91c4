import BatonJSON

/// What happened, as the `type` of an `event` notification.
public enum EventType: String, Sendable, Hashable, CaseIterable {
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
    /// An operator changed a serving pool's count (`app.scale`, `app.remove`); `reason` says to what.
    case poolScaled = "pool.scaled"
    case appPaused = "app.paused"
    case appResumed = "app.resumed"
    /// `app.remove` drained the app and forgot it.
    case appRemoved = "app.removed"
}

/// What an event is about: everything but when it happened.
public struct EventSubject: Sendable, Hashable {
    public var type: EventType
    public var app: AppName
    public var deployment: DeploymentID?
    public var version: String?
    public var service: String?
    public var pool: PoolID?
    public var sandbox: SandboxID?
    public var reason: String?

    public init(
        _ type: EventType,
        app: AppName,
        deployment: DeploymentID? = nil,
        version: String? = nil,
        service: String? = nil,
        pool: PoolID? = nil,
        sandbox: SandboxID? = nil,
        reason: String? = nil
    ) {
        self.type = type
        self.app = app
        self.deployment = deployment
        self.version = version
        self.service = service
        self.pool = pool
        self.sandbox = sandbox
        self.reason = reason
    }
}

/// One `event` notification of `events.watch`: the host writes it, the admin CLI reads it.
@dynamicMemberLookup
public struct EventMessage: Sendable, Hashable {
    /// Wall-clock milliseconds since 1970.
    public var timeMs: Int64
    public var subject: EventSubject

    public init(timeMs: Int64, subject: EventSubject) {
        self.timeMs = timeMs
        self.subject = subject
    }

    public subscript<Value>(dynamicMember field: KeyPath<EventSubject, Value>) -> Value { subject[keyPath: field] }

    /// Nil for an event of a type this build does not know, which a client ignores.
    public init?(json: JSON) {
        guard let timeMs = json["time"]?.intValue, let rawType = json["type"]?.stringValue,
            let type = EventType(rawValue: rawType), let app = json["app"]?.stringValue
        else { return nil }
        let subject = EventSubject(
            type,
            app: AppName(app),
            deployment: json["deployment"]?.stringValue.map { DeploymentID($0) },
            version: json["version"]?.stringValue,
            service: json["service"]?.stringValue,
            pool: json["pool"]?.stringValue.map { PoolID($0) },
            sandbox: json["sandbox"]?.stringValue.map { SandboxID($0) },
            reason: json["reason"]?.stringValue
        )
        self.init(timeMs: timeMs, subject: subject)
    }

    public var json: JSON {
        var object: JSONObject = [
            "time": .int(timeMs), "type": .string(subject.type.rawValue), "app": .id(subject.app),
        ]
        object["deployment"] = subject.deployment.map(JSON.id)
        object["version"] = subject.version.map(JSON.string)
        object["service"] = subject.service.map(JSON.string)
        object["pool"] = subject.pool.map(JSON.id)
        object["sandbox"] = subject.sandbox.map(JSON.id)
        object["reason"] = subject.reason.map(JSON.string)
        return .object(object)
    }
}
