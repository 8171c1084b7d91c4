import BatonJSON
import BatonRPC

/// The JSON shape of services and deploys, as `app.deploy` takes them (PROTOCOL.md): one
/// codec for the wire and the store, which writes the same shape and reads it back.
extension ServiceSpec {
    public var json: JSON {
        var object: JSONObject = [
            "name": .string(name), "instances": .int(Int64(instances)), "spec": spec,
            "slots": .int(Int64(slotsPerSandbox)),
        ]
        object["health"] = health.map { ["path": .string($0.path)] }
        object["minReady"] = minReady.map { .int(Int64($0)) }
        object["scheduler"] = scheduler.map(JSON.string)
        return .object(object)
    }

    /// Reads a service as `app.deploy` gives it; the store reads what it wrote the same way.
    public init(params: RPCParams, index: Int) throws(RPCError) {
        let spec = params.members["spec"] ?? .object([:])
        guard case .object = spec else { throw .invalidParams("services[\(index)].spec must be an object") }
        var health: HealthCheck?
        if params.members["health"] != nil && params.members["health"] != .null {
            let path = try params.object("health").string("path")
            guard path.hasPrefix("/") else { throw .invalidParams("services[\(index)].health.path must start with /") }
            health = HealthCheck(path: path)
        }
        self.init(
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

    /// A service as the store kept it, or nil when it is not one.
    public init?(stored json: JSON) {
        guard let object = json.objectValue,
            let service = try? ServiceSpec(params: RPCParams(members: object), index: 0)
        else { return nil }
        self = service
    }
}

extension DeployRequest {
    public var json: JSON {
        var object: JSONObject = [
            "app": .string(app.rawValue), "version": .string(version), "services": .array(services.map(\.json)),
            "readyTimeoutMs": .int(readyTimeout.milliseconds), "drainTimeoutMs": .int(drainTimeout.milliseconds),
            "onTimeout": .string(onTimeout.rawValue),
        ]
        object["requestId"] = requestID.map(JSON.string)
        return .object(object)
    }

    /// The optional `requestId` of `app.deploy` and `app.rollback`: a name, as an app's.
    public static func requestID(_ params: RPCParams) throws(RPCError) -> String? {
        guard let id = try params.optionalString("requestId") else { return nil }
        guard WireLimits.isName(id) else {
            throw .invalidParams("requestId must be 1 to \(WireLimits.nameBytes) visible ASCII characters")
        }
        return id
    }

    /// Reads a deploy as `app.deploy` takes it; the store reads what it wrote the same way.
    public init(params: RPCParams) throws(RPCError) {
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
            services.append(try ServiceSpec(params: RPCParams(members: object), index: index))
        }
        var onTimeout = TimeoutPolicy.rollback
        if let raw = try params.optionalString("onTimeout") {
            guard let policy = TimeoutPolicy(rawValue: raw) else {
                throw .invalidParams("onTimeout must be \"rollback\" or \"proceed\", not \"\(raw)\"")
            }
            onTimeout = policy
        }
        self.init(
            app: app,
            version: version,
            services: services,
            readyTimeout: try params.optionalInt("readyTimeoutMs", in: WireLimits.timeoutMs).map(Duration.milliseconds)
                ?? DeployRequest.defaultReadyTimeout,
            drainTimeout: try params.optionalInt("drainTimeoutMs", in: WireLimits.timeoutMs).map(Duration.milliseconds)
                ?? DeployRequest.defaultDrainTimeout,
            onTimeout: onTimeout,
            requestID: try Self.requestID(params)
        )
    }

    /// A deploy as the store kept it, or nil when it is not one.
    public init?(stored json: JSON) {
        guard let object = json.objectValue, let request = try? DeployRequest(params: RPCParams(members: object)) else {
            return nil
        }
        self = request
    }
}

extension JSON {
    /// An identifier goes on the wire as its raw string.
    public static func id<Kind>(_ value: Identifier<Kind>) -> JSON {
        .string(value.rawValue)
    }
}

extension RPCParams {
    public func id<Kind>(
        _ name: String,
        as type: Identifier<Kind>.Type = Identifier<Kind>.self
    ) throws(RPCError) -> Identifier<Kind> {
        Identifier(try string(name))
    }
}
