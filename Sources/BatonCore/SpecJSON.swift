import BatonJSON
import BatonProtocol

/// The JSON shape of services and deploys, as `app.deploy` takes them (PROTOCOL.md). Written
/// for answers and for the store; read back from the store, where anything else means the
/// file was not written by this code.
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

    public init?(stored json: JSON) {
        guard let name = json["name"]?.stringValue, let instances = json["instances"]?.intValue,
            let spec = json["spec"],
            let slots = json["slots"]?.intValue
        else { return nil }
        self.init(
            name: name,
            instances: Int(instances),
            spec: spec,
            health: json["health"]?["path"]?.stringValue.map(HealthCheck.init),
            minReady: json["minReady"]?.intValue.map(Int.init),
            scheduler: json["scheduler"]?.stringValue,
            slotsPerSandbox: Int(slots)
        )
    }
}

extension DeployRequest {
    public var json: JSON {
        [
            "app": .string(app.rawValue), "version": .string(version), "services": .array(services.map(\.json)),
            "readyTimeoutMs": .int(readyTimeout.milliseconds), "drainTimeoutMs": .int(drainTimeout.milliseconds),
            "onTimeout": .string(onTimeout.rawValue),
        ]
    }

    public init?(stored json: JSON) {
        guard let app = json["app"]?.stringValue, let version = json["version"]?.stringValue,
            let list = json["services"]?.arrayValue, let ready = json["readyTimeoutMs"]?.intValue,
            let drain = json["drainTimeoutMs"]?.intValue,
            let onTimeout = json["onTimeout"]?.stringValue.flatMap(TimeoutPolicy.init)
        else { return nil }
        let services = list.compactMap(ServiceSpec.init(stored:))
        guard services.count == list.count else { return nil }
        self.init(
            app: AppName(app),
            version: version,
            services: services,
            readyTimeout: .milliseconds(ready),
            drainTimeout: .milliseconds(drain),
            onTimeout: onTimeout
        )
    }
}
