import BatonCore
import BatonJSON
import BatonProtocol

/// The launcher's records as the cluster keeps them in etcd: one JSON object per record,
/// whose service specs and deploy requests read as `app.deploy` takes them.
package enum StoredRecordJSON {
    static func app(_ app: StoredApp) -> JSON {
        [
            "name": .string(app.name.rawValue), "phase": .string(app.phase.rawValue),
            "activeVersion": app.activeVersion.map(JSON.string) ?? .null,
            "activePools": pools(app.activePools),
        ]
    }

    static func version(_ version: StoredVersion) -> JSON {
        [
            "app": .string(version.app.rawValue), "version": .string(version.version),
            "services": .array(version.services.map(\.json)),
        ]
    }

    static func pool(_ pool: StoredPool) -> JSON {
        [
            "id": .string(pool.id.rawValue), "app": .string(pool.app.rawValue), "version": .string(pool.version),
            "spec": pool.spec.json, "desired": .int(Int64(pool.desired)),
            "stopDrainMs": pool.stopDrain.map { .int($0.milliseconds) } ?? .null,
        ]
    }

    /// `made` orders deployments as they were made (the SQLite store keeps rows in that order).
    static func deployment(_ deployment: StoredDeployment, made: Int64) -> JSON {
        [
            "made": .int(made),
            "id": .string(deployment.id.rawValue), "request": deployment.request.json,
            "state": .string(deployment.state.rawValue), "reason": deployment.reason.map(JSON.string) ?? .null,
            "servicePools": pools(deployment.servicePools), "waitPools": pools(deployment.waitPools),
            "startedPools": .array(deployment.startedPools.map { .string($0.rawValue) }),
            "failures": .array(deployment.failures.map(JSON.string)),
        ]
    }

    private static func pools(_ pools: [String: PoolID]) -> JSON {
        .object(JSONObject(pools.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value.rawValue)) }))
    }

    // MARK: Reading

    package struct Unreadable: Error, CustomStringConvertible {
        package var description: String
    }

    static func app(_ json: JSON) throws(Unreadable) -> StoredApp {
        guard let name = json["name"]?.stringValue, let phase = json["phase"]?.stringValue.flatMap(AppPhase.init)
        else { throw Unreadable(description: "an app without a name or phase: \(json)") }
        return StoredApp(
            name: AppName(rawValue: name),
            phase: phase,
            activeVersion: json["activeVersion"]?.stringValue,
            activePools: try pools(json["activePools"])
        )
    }

    static func version(_ json: JSON) throws(Unreadable) -> StoredVersion {
        guard let app = json["app"]?.stringValue, let version = json["version"]?.stringValue,
            let services = json["services"]?.arrayValue
        else { throw Unreadable(description: "a version without an app, a name or services: \(json)") }
        var specs: [ServiceSpec] = []
        for service in services {
            guard let spec = ServiceSpec(stored: service) else {
                throw Unreadable(description: "a service: \(service)")
            }
            specs.append(spec)
        }
        return StoredVersion(app: AppName(rawValue: app), version: version, services: specs)
    }

    static func pool(_ json: JSON) throws(Unreadable) -> StoredPool {
        guard let id = json["id"]?.stringValue, let app = json["app"]?.stringValue,
            let version = json["version"]?.stringValue, let spec = json["spec"].flatMap(ServiceSpec.init(stored:)),
            let desired = json["desired"]?.intValue
        else { throw Unreadable(description: "a pool: \(json)") }
        return StoredPool(
            id: PoolID(rawValue: id),
            app: AppName(rawValue: app),
            version: version,
            spec: spec,
            desired: Int(desired),
            stopDrain: json["stopDrainMs"]?.intValue.map { Duration.milliseconds($0) }
        )
    }

    static func deployment(_ json: JSON) throws(Unreadable) -> (StoredDeployment, made: Int64) {
        guard let id = json["id"]?.stringValue, let request = json["request"].flatMap(DeployRequest.init(stored:)),
            let state = json["state"]?.stringValue.flatMap(DeploymentState.init(rawValue:)),
            let made = json["made"]?.intValue
        else { throw Unreadable(description: "a deployment: \(json)") }
        let deployment = StoredDeployment(
            id: DeploymentID(rawValue: id),
            request: request,
            state: state,
            reason: json["reason"]?.stringValue,
            servicePools: try pools(json["servicePools"]),
            waitPools: try pools(json["waitPools"]),
            startedPools: (json["startedPools"]?.arrayValue ?? []).compactMap(\.stringValue).map(
                PoolID.init(rawValue:)
            ),
            failures: (json["failures"]?.arrayValue ?? []).compactMap(\.stringValue)
        )
        return (deployment, made)
    }

    static func route(_ json: JSON) throws(Unreadable) -> RouteSpec {
        guard let route = RouteSpec(stored: json) else { throw Unreadable(description: "a route: \(json)") }
        return route
    }

    private static func pools(_ json: JSON?) throws(Unreadable) -> [String: PoolID] {
        guard let object = json?.objectValue else {
            throw Unreadable(description: "pools by service: \(json ?? .null)")
        }
        var pools: [String: PoolID] = [:]
        for (service, pool) in object {
            guard let pool = pool.stringValue else { throw Unreadable(description: "a pool id: \(pool)") }
            pools[service] = PoolID(rawValue: pool)
        }
        return pools
    }
}
