import BatonJSON

/// Why leases stopped being good.
public enum RevocationReason: String, Sendable, Hashable {
    case cutover, draining, stopped, suspect, expired, paused
}

/// Leases that must not take new requests any more, as `lease.revoked` pushes them to routers.
public struct LeaseRevocation: Sendable, Hashable {
    public var leases: [LeaseID]
    public var sandbox: SandboxID
    public var app: AppName
    public var reason: RevocationReason

    public init(leases: [LeaseID], sandbox: SandboxID, app: AppName, reason: RevocationReason) {
        self.leases = leases
        self.sandbox = sandbox
        self.app = app
        self.reason = reason
    }

    /// The notification's params on the subscription `subscription`.
    public func json(subscription: String) -> JSON {
        [
            "subscription": .string(subscription), "leases": .array(leases.map(JSON.id)), "sandbox": .id(sandbox),
            "app": .id(app), "reason": .string(reason.rawValue),
        ]
    }
}
