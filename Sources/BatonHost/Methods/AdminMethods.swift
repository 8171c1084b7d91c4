import BatonCluster
import BatonCore
import BatonJSON
import BatonRPC
import Glibc

/// Deploying, routing and watching: the `admin` role's methods.
enum AdminMethods {
    /// `cluster`: a node of a cluster says which nodes there are in `app.status`.
    static func all(launcher: Launcher, clock: any CoreClock, cluster: ClusterNode?) -> [RPCMethod] {
        [
            .waiting(.appDeploy) { call in
                let request = try DeployRequest(params: try call.namedParams())
                let id = try await CoreJSON.call { () async throws(CoreError) in try await launcher.deploy(request) }
                return RPCRemainder {
                    try await durable(launcher)
                    return ["deployment": .id(id)]
                }
            },
            .waiting(.appRollback) { call in
                let params = try call.namedParams()
                let app: AppName = try params.id("app")
                let requestID = try DeployRequest.requestID(params)
                let (id, version) = try await CoreJSON.call { () async throws(CoreError) in
                    try await launcher.rollback(app: app, requestID: requestID)
                }
                return RPCRemainder {
                    try await durable(launcher)
                    return ["deployment": .id(id), "version": .string(version)]
                }
            },
            .waiting(.appScale) { call in
                let params = try call.namedParams()
                let app: AppName = try params.id("app")
                let service = try params.string("service")
                let instances = try params.int(
                    "instances",
                    in: Int64(Launcher.instancesRange.lowerBound)...Int64(Launcher.instancesRange.upperBound)
                )
                let drainTimeout = try drainTimeout(params)
                try await CoreJSON.call { () async throws(CoreError) in
                    try await launcher.scale(
                        app: app,
                        service: service,
                        instances: Int(instances),
                        drainTimeout: drainTimeout
                    )
                }
                return RPCRemainder {
                    try await durable(launcher)
                    return [:]
                }
            },
            .waiting(.appPause) { call in
                let app: AppName = try call.namedParams().id("app")
                try await CoreJSON.call { () async throws(CoreError) in try await launcher.pause(app: app) }
                return RPCRemainder {
                    try await durable(launcher)
                    return [:]
                }
            },
            .waiting(.appResume) { call in
                let app: AppName = try call.namedParams().id("app")
                try await CoreJSON.call { () async throws(CoreError) in try await launcher.resume(app: app) }
                return RPCRemainder {
                    try await durable(launcher)
                    return [:]
                }
            },
            .waiting(.appRemove) { call in
                let params = try call.namedParams()
                let app: AppName = try params.id("app")
                let drainTimeout = try drainTimeout(params)
                try await CoreJSON.call { () async throws(CoreError) in
                    try await launcher.remove(app: app, drainTimeout: drainTimeout)
                }
                return RPCRemainder {
                    try await durable(launcher)
                    return [:]
                }
            },
            .ordered(.appStatus) { call in
                let app: AppName = try call.namedParams().id("app")
                return CoreJSON.status(
                    try await CoreJSON.call { () async throws(CoreError) in try await launcher.status(app: app) },
                    cluster: cluster?.view()
                )
            },
            .ordered(.appList) { _ in
                let apps: [JSON] = await launcher.appSummaries().map { summary in
                    var object: JSONObject = ["app": .id(summary.app), "phase": .string(summary.phase.rawValue)]
                    object["activeVersion"] = summary.activeVersion.map(JSON.string) ?? .null
                    object["deployment"] = summary.latestDeployment.map(JSON.id)
                    object["state"] = summary.latestState.map { .string($0.rawValue) }
                    return .object(object)
                }
                return ["apps": .array(apps)]
            },
            .waiting(.routeSet) { call in
                let params = try call.namedParams()
                let host = try params.string("host")
                let app: AppName = try params.id("app")
                try await CoreJSON.call { () async throws(CoreError) in
                    try await launcher.setRoute(host: host, app: app)
                }
                return RPCRemainder {
                    try await durable(launcher)
                    return [:]
                }
            },
            .waiting(.routeRemove) { call in
                let host = try call.namedParams().string("host")
                try await CoreJSON.call { () async throws(CoreError) in try await launcher.removeRoute(host: host) }
                return RPCRemainder {
                    try await durable(launcher)
                    return [:]
                }
            },
            .ordered(.routeList) { _ in
                let routes: [JSON] = await launcher.routeTable().map { ["host": .string($0.host), "app": .id($0.app)] }
                return ["routes": .array(routes)]
            },
            .sync(.eventsWatch) { call in
                let apps = try appFilter(try call.namedParams())
                let id = Subscriptions.newID(prefix: "events")
                let stream = launcher.events.subscribe { apps?.contains($0.app) ?? true }
                Subscriptions.forward(stream, as: id, answering: call, notification: .event) { event in
                    CoreJSON.event(event, wallTimeMs: wallTime(of: event.time, clock: clock)).setting(
                        "subscription",
                        to: .string(id)
                    )
                }
                return ["subscription": .string(id)]
            },
        ]
    }

    /// An admin change is answered only once the store has it; the wait for the disk
    /// comes after the change took effect, so it does not hold back the session's next call.
    static func durable(_ launcher: Launcher) async throws(RPCError) {
        do {
            try await launcher.durable()
        } catch {
            throw .internalError("the change is made but could not be stored: \(error)")
        }
    }

    /// The optional `drainTimeoutMs` of an operator's stop, as a deploy takes it.
    static func drainTimeout(_ params: RPCParams) throws(RPCError) -> Duration {
        try params.optionalInt("drainTimeoutMs", in: WireLimits.timeoutMs).map(Duration.milliseconds)
            ?? DeployRequest.defaultDrainTimeout
    }

    /// The optional `apps` filter of the watch methods.
    static func appFilter(_ params: RPCParams) throws(RPCError) -> Set<AppName>? {
        try params.optionalStringArray("apps").map { Set($0.map(AppName.init(rawValue:))) }
    }

    /// Milliseconds since the Unix epoch at which something happened at core time `instant`.
    static func wallTime(of instant: CoreInstant, clock: any CoreClock) -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let wallNow = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        return wallNow - (clock.now - instant).milliseconds
    }
}
