import BatonCore
import BatonJSON
import BatonProtocol
import BatonRPC

/// The JSON shapes of the core's requests and answers on the wire (see PROTOCOL.md).
enum CoreJSON {
    static func rpcError(_ error: CoreError) -> RPCError {
        var data = JSONObject()
        if let retryAfter = error.retryAfter {
            data["retryable"] = true
            data["retryAfterMs"] = .int(retryAfter.milliseconds)
        }
        return RPCError(code: error.code, message: error.message, data: data.isEmpty ? nil : .object(data))
    }

    /// Runs a core call, turning its refusal into the protocol's error.
    static func call<T>(_ body: () async throws(CoreError) -> T) async throws(RPCError) -> T {
        do { return try await body() } catch { throw rpcError(error) }
    }

    static func deployRequest(_ params: RPCParams) throws(RPCError) -> DeployRequest {
        let app: AppName = try params.id("app")
        let version = try params.optionalString("version") ?? ""
        guard let rawServices = params.members["services"] else {
            throw .invalidParams("missing array member \"services\"")
        }
        guard let list = rawServices.arrayValue else {
            throw .invalidParams("member \"services\" must be an array, not \(rawServices.typeName)")
        }
        var services: [ServiceSpec] = []
        for (index, raw) in list.enumerated() {
            guard let object = raw.objectValue else { throw .invalidParams("services[\(index)] must be an object") }
            services.append(try service(RPCParams(members: object), index: index))
        }
        var onTimeout = TimeoutPolicy.rollback
        if let raw = try params.optionalString("onTimeout") {
            guard let policy = TimeoutPolicy(rawValue: raw) else {
                throw .invalidParams("onTimeout must be \"rollback\" or \"proceed\", not \"\(raw)\"")
            }
            onTimeout = policy
        }
        return DeployRequest(
            app: app,
            version: version,
            services: services,
            readyTimeout: try params.optionalInt("readyTimeoutMs", in: WireLimits.timeoutMs).map(Duration.milliseconds)
                ?? DeployRequest.defaultReadyTimeout,
            drainTimeout: try params.optionalInt("drainTimeoutMs", in: WireLimits.timeoutMs).map(Duration.milliseconds)
                ?? DeployRequest.defaultDrainTimeout,
            onTimeout: onTimeout
        )
    }

    private static func service(_ params: RPCParams, index: Int) throws(RPCError) -> ServiceSpec {
        let spec = params.members["spec"] ?? .object([:])
        guard case .object = spec else { throw .invalidParams("services[\(index)].spec must be an object") }
        var health: HealthCheck?
        if params.members["health"] != nil && params.members["health"] != .null {
            let path = try params.object("health").string("path")
            guard path.hasPrefix("/") else { throw .invalidParams("services[\(index)].health.path must start with /") }
            health = HealthCheck(path: path)
        }
        return ServiceSpec(
            name: try params.optionalString("name") ?? "",
            instances: Int(try params.optionalInt("instances", in: WireLimits.instances) ?? 1),
            spec: spec,
            health: health,
            minReady: try params.optionalInt("minReady", in: WireLimits.instances).map(Int.init),
            scheduler: try params.optionalString("scheduler"),
            slotsPerSandbox: Int(
                try params.optionalInt("slots", in: WireLimits.slots) ?? Int64(ServiceSpec.defaultSlotsPerSandbox)
            )
        )
    }

    static func lease(_ lease: Lease) -> JSON {
        [
            "lease": .id(lease.id), "url": .string(lease.url), "sandbox": .id(lease.sandbox),
            "app": .id(lease.app), "version": .string(lease.version), "service": .string(lease.service),
            "slots": .int(Int64(lease.slots)), "ttlMs": .int(lease.ttl.milliseconds),
        ]
    }

    static func desiredPool(_ pool: DesiredPool) -> JSON {
        PoolMessage(
            pool: pool.pool.rawValue,
            app: pool.app.rawValue,
            version: pool.version,
            service: pool.service,
            desired: pool.desired,
            spec: pool.spec.spec,
            health: pool.spec.health
        ).json
    }

    static func event(_ event: CoreEvent, wallTimeMs: Int64) -> JSON {
        var object: JSONObject = [
            "time": .int(wallTimeMs), "type": .string(event.kind.rawValue), "app": .id(event.app),
        ]
        object["deployment"] = event.deployment.map(JSON.id)
        object["version"] = event.version.map(JSON.string)
        object["service"] = event.service.map(JSON.string)
        object["pool"] = event.pool.map(JSON.id)
        object["sandbox"] = event.sandbox.map(JSON.id)
        object["reason"] = event.reason.map(JSON.string)
        return .object(object)
    }

    static func revocation(_ revocation: LeaseRevocation) -> JSON {
        [
            "leases": .array(revocation.leases.map(JSON.id)), "sandbox": .id(revocation.sandbox),
            "app": .id(revocation.app), "reason": .string(revocation.reason.rawValue),
        ]
    }

    static func status(_ status: AppStatus) -> JSON {
        let deployments: [JSON] = status.deployments.map { deployment in
            var object: JSONObject = [
                "deployment": .id(deployment.id), "version": .string(deployment.version),
                "state": .string(deployment.state.rawValue),
            ]
            object["reason"] = deployment.reason.map(JSON.string)
            return .object(object)
        }
        let pools: [JSON] = status.pools.map { pool in
            var counts = JSONObject()
            for state in SandboxState.allCases { counts[state.rawValue] = .int(Int64(pool.counts[state] ?? 0)) }
            var object: JSONObject = [
                "pool": .id(pool.id), "service": .string(pool.service), "version": .string(pool.version),
                "desired": .int(Int64(pool.desired)), "sandboxes": .object(counts),
            ]
            object["scheduler"] = pool.scheduler.map(JSON.string)
            object["waiting"] = pool.waiting.map(JSON.string)
            return .object(object)
        }
        let sandboxes: [JSON] = status.sandboxes.map { sandbox in
            var object: JSONObject = [
                "sandbox": .id(sandbox.id), "pool": .id(sandbox.pool), "state": .string(sandbox.state.rawValue),
                "admitted": .bool(sandbox.admitted), "suspect": .bool(sandbox.suspect),
                "leases": .int(Int64(sandbox.leases)), "slotsOut": .int(Int64(sandbox.slotsOut)),
            ]
            object["url"] = sandbox.url.map(JSON.string)
            object["reason"] = sandbox.reason.map(JSON.string)
            return .object(object)
        }
        var object: JSONObject = [
            "app": .id(status.app), "routes": .array(status.routes.map(JSON.string)),
            "deployments": .array(deployments), "pools": .array(pools), "sandboxes": .array(sandboxes),
        ]
        object["activeVersion"] = status.activeVersion.map(JSON.string) ?? .null
        return .object(object)
    }
}

extension JSON {
    /// An identifier goes on the wire as its raw string.
    static func id<Kind>(_ value: Identifier<Kind>) -> JSON {
        .string(value.rawValue)
    }
}

extension RPCParams {
    func id<Kind>(
        _ name: String,
        as type: Identifier<Kind>.Type = Identifier<Kind>.self
    ) throws(RPCError) -> Identifier<Kind> {
        Identifier(try string(name))
    }
}
