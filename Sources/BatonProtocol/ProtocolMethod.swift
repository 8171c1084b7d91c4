import BatonJSON
import BatonRPC

/// Every method (PROTOCOL.md §3), by its wire name, with the roles that may call it. Only
/// `host.hello` is not here: the session layer (`BatonRPC`) answers it before any method.
public enum ProtocolMethod: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case hostPing = "host.ping"
    case hostUnsubscribe = "host.unsubscribe"
    case appDeploy = "app.deploy"
    case appStatus = "app.status"
    case appList = "app.list"
    case appRollback = "app.rollback"
    case routeSet = "route.set"
    case routeRemove = "route.remove"
    case routeList = "route.list"
    case eventsWatch = "events.watch"
    case schedulerSubscribe = "scheduler.subscribe"
    case schedulerReport = "scheduler.report"
    case schedulerSync = "scheduler.sync"
    case leaseAcquire = "lease.acquire"
    case leaseRenew = "lease.renew"
    case leaseRelease = "lease.release"
    case leaseInvalidate = "lease.invalidate"
    case leaseWatch = "lease.watch"
    case ingressRequest = "ingress.request"
    case appScale = "app.scale"
    case appPause = "app.pause"
    case appResume = "app.resume"
    case appRemove = "app.remove"

    public var roles: Set<RPCRole> {
        switch self {
        case .hostPing, .hostUnsubscribe: Set(RPCRole.allCases)
        case .appDeploy, .appStatus, .appList, .appRollback, .appScale, .appPause, .appResume, .appRemove, .routeSet,
            .routeRemove, .routeList, .eventsWatch:
            [.admin]
        case .schedulerSubscribe, .schedulerReport, .schedulerSync: [.scheduler]
        case .leaseAcquire, .leaseRenew, .leaseRelease, .leaseInvalidate, .leaseWatch: [.router]
        case .ingressRequest: [.admin, .router]
        }
    }

    public var description: String { rawValue }
}

/// What the host pushes on a subscription (PROTOCOL.md §4), by its wire name.
public enum ProtocolNotification: String, Sendable, Hashable, CaseIterable {
    case schedulerDesired = "scheduler.desired"
    case leaseRevoked = "lease.revoked"
    case event
}

extension RPCMethod {
    public static func sync(_ method: ProtocolMethod, _ body: @escaping SyncBody) -> RPCMethod {
        sync(method.rawValue, roles: method.roles, body)
    }

    public static func ordered(_ method: ProtocolMethod, _ body: @escaping OrderedBody) -> RPCMethod {
        ordered(method.rawValue, roles: method.roles, body)
    }

    public static func waiting(_ method: ProtocolMethod, _ body: @escaping WaitingBody) -> RPCMethod {
        waiting(method.rawValue, roles: method.roles, body)
    }
}

extension RPCClient {
    public func call(_ method: ProtocolMethod, _ params: JSON? = nil) async throws -> JSON {
        try await call(method.rawValue, params)
    }

    public func send(_ method: ProtocolMethod, _ params: JSON? = nil) async throws -> RPCPendingAnswer {
        try await send(method.rawValue, params)
    }
}

extension RPCNotification {
    /// Whether this is `notification`; a notification the client does not know is none.
    public func `is`(_ notification: ProtocolNotification) -> Bool {
        method == notification.rawValue
    }
}
