/// `app.remove`: the app takes no new requests, a deploy still waiting fails, its serving
/// pools drain and go to 0 as `app.scale` to 0 does, and once every pool of it is at 0 and
/// no drain of it is left, the app, its routes and its history are forgotten.
extension Launcher {
    public func remove(app: AppName, drainTimeout: Duration) async throws(CoreError) {
        try mustLead()
        defer { commit() }
        guard let record = apps[app] else { throw .unknownApp(app) }
        guard record.phase != .removing else { return }
        apps[app]?.phase = .removing
        changed.apps.insert(app)
        await broker.pause(app: app, reason: .draining)
        for id in record.deployments where deployments[id]?.state == .waiting {
            await step(id) { $0.abandoned(because: "app \(app) is being removed") }
        }
        for pool in record.activePools.values.sorted() { await stop(pool, drainTimeout: drainTimeout) }
        await finishRemoval(of: app)
    }

    /// Forgets an app being removed once nothing of it runs or drains.
    func finishRemoval(of app: AppName) async {
        guard let record = apps[app], record.phase == .removing,
            record.deployments.allSatisfy({ deployments[$0]?.state.isFinished ?? true }),
            pools.values.allSatisfy({ $0.app != app || $0.desired == 0 }),
            !stops.contains(where: { pools[$0.key]?.app == app && $0.value.life.isDraining })
        else { return }
        for id in record.deployments { deployments.removeValue(forKey: id)?.timer?.cancel() }
        for pool in pools.values.filter({ $0.app == app }).map(\.id) {
            pools.removeValue(forKey: pool)
            dropStop(of: pool)
        }
        apps.removeValue(forKey: app)
        changed.removed.insert(.app(app))
        let keys = routes.filter { $0.value.app == app }.map(\.key)
        for key in keys { routes.removeValue(forKey: key) }
        changed.routes.formUnion(keys)
        await broker.forget(app: app)
        publish(.init(.appRemoved, app: app))
        if !keys.isEmpty { routesChanged(routes) }
    }
}
