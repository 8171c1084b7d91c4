import BatonJSON

/// One pool as `scheduler.subscribe` and `scheduler.desired` carry it to a scheduler: the
/// host writes it and schedulers read it through this one codec.
public struct PoolMessage: Sendable, Hashable {
    public var pool: String
    public var app: String
    public var version: String
    public var service: String
    public var desired: Int
    /// What to run, opaque to the host: each scheduler reads its own kind of spec.
    public var spec: JSON
    public var health: HealthCheck?

    public init(
        pool: String,
        app: String,
        version: String,
        service: String,
        desired: Int,
        spec: JSON,
        health: HealthCheck?
    ) {
        self.pool = pool
        self.app = app
        self.version = version
        self.service = service
        self.desired = desired
        self.spec = spec
        self.health = health
    }

    public init?(json: JSON) {
        guard let pool = json["pool"]?.stringValue else { return nil }
        self.init(
            pool: pool,
            app: json["app"]?.stringValue ?? "?",
            version: json["version"]?.stringValue ?? "?",
            service: json["service"]?.stringValue ?? "?",
            desired: Int(json["desired"]?.intValue ?? 0),
            spec: json["spec"] ?? .null,
            health: json["health"]?["path"]?.stringValue.map(HealthCheck.init(path:))
        )
    }

    public var json: JSON {
        var object: JSONObject = [
            "pool": .string(pool), "app": .string(app), "version": .string(version), "service": .string(service),
            "desired": .int(Int64(desired)), "spec": spec,
        ]
        object["health"] = health.map { ["path": .string($0.path)] }
        return .object(object)
    }
}
