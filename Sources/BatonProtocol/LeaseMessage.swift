import BatonJSON

/// A lease as `lease.acquire` and `lease.renew` answer it: the host writes it, and routers
/// and the contract kit's stand-in host go through this one codec.
public struct LeaseMessage: Sendable, Hashable {
    public var lease: String
    public var url: String
    public var sandbox: String
    public var app: String
    public var version: String
    public var service: String
    public var slots: Int
    public var ttlMs: Int64

    public init(
        lease: String,
        url: String,
        sandbox: String,
        app: String,
        version: String,
        service: String,
        slots: Int,
        ttlMs: Int64
    ) {
        self.lease = lease
        self.url = url
        self.sandbox = sandbox
        self.app = app
        self.version = version
        self.service = service
        self.slots = slots
        self.ttlMs = ttlMs
    }

    public init?(json: JSON) {
        guard let lease = json["lease"]?.stringValue, let url = json["url"]?.stringValue,
            let sandbox = json["sandbox"]?.stringValue, let slots = json["slots"]?.intValue,
            let ttlMs = json["ttlMs"]?.intValue
        else { return nil }
        self.init(
            lease: lease,
            url: url,
            sandbox: sandbox,
            app: json["app"]?.stringValue ?? "",
            version: json["version"]?.stringValue ?? "",
            service: json["service"]?.stringValue ?? "",
            slots: Int(slots),
            ttlMs: ttlMs
        )
    }

    public var json: JSON {
        [
            "lease": .string(lease), "url": .string(url), "sandbox": .string(sandbox), "app": .string(app),
            "version": .string(version), "service": .string(service), "slots": .int(Int64(slots)), "ttlMs": .int(ttlMs),
        ]
    }
}
