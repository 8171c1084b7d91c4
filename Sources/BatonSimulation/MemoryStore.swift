import BatonCore
import NIOConcurrencyHelpers

/// The launcher's store kept in memory, so a simulated host restart takes back exactly
/// what the launcher committed, as SQLite would (the store itself is tested on its own).
final class MemoryStore: LauncherStore {
    private struct Records {
        var apps: [AppName: StoredApp] = [:]
        var versions: [String: StoredVersion] = [:]
        var pools: [PoolID: StoredPool] = [:]
        var deployments: [DeploymentID: StoredDeployment] = [:]
        var deploymentOrder: [DeploymentID] = []
        var routes: [String: RouteSpec] = [:]
    }

    private let records = NIOLockedValueBox(Records())

    func load() throws -> StoredState {
        records.withLockedValue { records in
            StoredState(
                apps: records.apps.values.sorted { $0.name < $1.name },
                versions: records.versions.values.sorted { ($0.app, $0.version) < ($1.app, $1.version) },
                pools: records.pools.values.sorted { $0.id < $1.id },
                deployments: records.deploymentOrder.compactMap { records.deployments[$0] },
                routes: records.routes
            )
        }
    }

    func enqueue(_ changes: [StoredChange]) {
        records.withLockedValue { records in
            for change in changes {
                switch change {
                case .app(let app): records.apps[app.name] = app
                case .version(let version): records.versions[version.app.rawValue + "\u{1}" + version.version] = version
                case .pool(let pool): records.pools[pool.id] = pool
                case .deployment(let deployment):
                    if records.deployments.updateValue(deployment, forKey: deployment.id) == nil {
                        records.deploymentOrder.append(deployment.id)
                    }
                case .route(let key, let route): records.routes[key] = route
                case .removed(.version(let app, let version)):
                    records.versions.removeValue(forKey: app.rawValue + "\u{1}" + version)
                case .removed(.pool(let id)): records.pools.removeValue(forKey: id)
                case .removed(.deployment(let id)):
                    records.deployments.removeValue(forKey: id)
                    records.deploymentOrder.removeAll { $0 == id }
                case .removed(.app(let name)):
                    records.apps.removeValue(forKey: name)
                    records.versions = records.versions.filter { $0.value.app != name }
                    records.pools = records.pools.filter { $0.value.app != name }
                    records.deployments = records.deployments.filter { $0.value.request.app != name }
                    records.deploymentOrder.removeAll { records.deployments[$0] == nil }
                }
            }
        }
    }

    func flush() async throws {}
}
