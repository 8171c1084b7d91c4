import BatonACME
import BatonCluster
import BatonCore
import BatonJSON
import BatonRPC
import BatonTLS
import Glibc

/// Deploying, routing and watching: the `admin` role's methods.
enum AdminMethods {
    /// An admin call that changes state: it takes effect on the launcher and returns its
    /// answer, which is sent once the change is stored.
    struct Change: Sendable {
        var method: ProtocolMethod
        var apply: @Sendable (RPCParams) async throws(RPCError) -> JSON
    }

    /// `cluster`: a node of a cluster says which nodes there are in `app.status`, and forwards
    /// a change it cannot make, not leading, to the leader.
    /// `certificates`: what each HTTPS host serves, for `route.list`.
    static func all(
        launcher: Launcher,
        clock: any CoreClock,
        cluster: ClusterNode?,
        certificates: CertificateBook?,
        acme: ACMEService?
    ) -> [RPCMethod] {
        changes(launcher: launcher).map { change in
            .waiting(change.method) { call in
                let params = try call.namedParams()
                do throws(RPCError) {
                    let answer = try await change.apply(params)
                    return RPCRemainder {
                        try await durable(launcher)
                        return answer
                    }
                } catch  where error.code == ProtocolErrorCode.notLeading.rawValue {
                    guard let cluster else { throw error }
                    return .answer(try await cluster.forward(change.method.rawValue, keyed(params, change.method)))
                }
            }
        } + [
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
            .ordered(.routeList) { _ in
                ["routes": .array(await launcher.routeTable().map { route in routeJSON(route, certificates, acme) })]
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

    /// Every change an admin can ask for, as the socket takes it and as a leader runs it for
    /// a follower.
    static func changes(launcher: Launcher) -> [Change] {
        [
            Change(method: .appDeploy) { params throws(RPCError) in
                let request = try DeployRequest(params: params)
                let id = try await CoreJSON.call { () async throws(CoreError) in try await launcher.deploy(request) }
                return ["deployment": .id(id)]
            },
            Change(method: .appRollback) { params throws(RPCError) in
                let app: AppName = try params.id("app")
                let requestID = try DeployRequest.requestID(params)
                let (id, version) = try await CoreJSON.call { () async throws(CoreError) in
                    try await launcher.rollback(app: app, requestID: requestID)
                }
                return ["deployment": .id(id), "version": .string(version)]
            },
            Change(method: .appScale) { params throws(RPCError) in
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
                return [:]
            },
            Change(method: .appPause) { params throws(RPCError) in
                let app: AppName = try params.id("app")
                try await CoreJSON.call { () async throws(CoreError) in try await launcher.pause(app: app) }
                return [:]
            },
            Change(method: .appResume) { params throws(RPCError) in
                let app: AppName = try params.id("app")
                try await CoreJSON.call { () async throws(CoreError) in try await launcher.resume(app: app) }
                return [:]
            },
            Change(method: .appRemove) { params throws(RPCError) in
                let app: AppName = try params.id("app")
                let drainTimeout = try drainTimeout(params)
                try await CoreJSON.call { () async throws(CoreError) in
                    try await launcher.remove(app: app, drainTimeout: drainTimeout)
                }
                return [:]
            },
            Change(method: .routeSet) { params throws(RPCError) in
                let route = try RouteSpec(params: params)
                try await CoreJSON.call { () async throws(CoreError) in try await launcher.setRoute(route) }
                return [:]
            },
            Change(method: .routeRemove) { params throws(RPCError) in
                let key = try RouteSpec.key(params: params)
                try await CoreJSON.call { () async throws(CoreError) in try await launcher.removeRoute(key: key) }
                return [:]
            },
        ]
    }

    /// How a leader runs a change a follower forwarded: as the socket would, answered once stored.
    static func runForwarded(launcher: Launcher) -> AdminRelay.Execute {
        let changes = Dictionary(
            uniqueKeysWithValues: changes(launcher: launcher).map { ($0.method.rawValue, $0.apply) }
        )
        return { method, params in
            guard let apply = changes[method], let members = params.objectValue else {
                return .failure(.methodNotFound(method))
            }
            do throws(RPCError) {
                let answer = try await apply(RPCParams(members: members))
                try await durable(launcher)
                return .success(answer)
            } catch {
                return .failure(error)
            }
        }
    }

    /// A forwarded deploy or rollback carries a `requestId`, the caller's or a new one: should
    /// the leader die before it answers, the next one runs it again as the same deploy.
    private static func keyed(_ params: RPCParams, _ method: ProtocolMethod) -> JSON {
        var members = params.members
        if method == .appDeploy || method == .appRollback, members["requestId"] == nil {
            members["requestId"] = .string("forwarded-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))")
        }
        return .object(members)
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
    /// A route as `route.list` gives it: as `route.set` took it, with what its host's
    /// certificate is now when it names one.
    static func routeJSON(_ route: RouteSpec, _ certificates: CertificateBook?, _ acme: ACMEService?) -> JSON {
        guard route.tls != nil, let status = certificates?.status(of: route.host) else { return route.json }
        var certificate: JSONObject = [:]
        certificate["notAfter"] = status.notAfter.map { .string(CertificateBook.time($0)) }
        certificate["problem"] = status.problem.map(JSON.string)
        certificate["acme"] = route.tls == .acme ? acme?.status(of: route.host).map(JSON.string) : nil
        return route.json.setting("certificate", to: .object(certificate))
    }

    static func wallTime(of instant: CoreInstant, clock: any CoreClock) -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let wallNow = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        return wallNow - (clock.now - instant).milliseconds
    }
}
