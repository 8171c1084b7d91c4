/// What the launcher forgets, so that its memory and its store stay bounded however many
/// deploys a host sees: finished deployments past the last few of each app, the versions
/// only they used, and the pools only they used, once nothing runs in them.
extension Launcher {
    /// Finished deployments kept per app, for `app.status` and rollbacks to their pools.
    static let finishedDeploymentsKept = 8

    func prune(app name: AppName) async {
        guard var app = apps[name] else { return }
        let finished = app.deployments.filter { deployments[$0]?.state.isFinished == true }
        let forgotten = Set(finished.dropLast(Self.finishedDeploymentsKept))
        for id in forgotten {
            deployments.removeValue(forKey: id)
            changed.removed.insert(.deployment(id))
        }
        app.deployments.removeAll { forgotten.contains($0) }
        let kept = app.deployments.compactMap { deployments[$0] }
        let usedVersions = Set(kept.map(\.request.version)).union(app.activeVersion.map { [$0] } ?? [])
        for version in app.versions.keys.sorted() where !usedVersions.contains(version) {
            app.versions.removeValue(forKey: version)
            changed.removed.insert(.version(app: name, version: version))
        }
        apps[name] = app
        changed.apps.insert(name)
        // Pools of the deployments kept stay too: `app.status` shows them, and a rollback to
        // one of those versions finds its pool.
        let referenced = Set(kept.flatMap { Array($0.servicePools.values) + Array($0.life.heldPools) })
        let idle = pools.values.filter {
            $0.app == name && $0.desired == 0 && !isNeeded($0.id) && !referenced.contains($0.id)
        }
        for pool in idle.sorted(by: { $0.id < $1.id }) where await broker.liveSandboxCount(inPool: pool.id) == 0 {
            guard pools[pool.id]?.desired == 0, !isNeeded(pool.id) else { continue }  // raised meanwhile
            pools.removeValue(forKey: pool.id)
            elsewhere.cuts[pool.id] = nil
            await broker.forget(pool: pool.id)
            changed.removed.insert(.pool(pool.id))
        }
    }
}

extension DeploymentState {
    /// Done, failed or superseded: nothing more happens to it.
    var isFinished: Bool { self == .done || self == .failed || self == .superseded }
}
