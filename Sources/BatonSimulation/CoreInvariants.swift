import BatonCore

/// The promises one node's launcher and broker keep after every step, whatever came before:
/// the simulation checks them on its host, and its cluster mode on every node (those of
/// `decisions` on the leader only, since a follower copies them).
struct CoreInvariants {
    typealias Broken = (invariant: String, detail: String)

    let broker: BrokerView
    let launcher: LauncherView
    let now: CoreInstant

    /// The broker agrees with itself and with the launcher it serves.
    func brokerAgrees() -> Broken? {
        for sandbox in broker.sandboxes.values.sorted(by: { $0.id < $1.id })
        where sandbox.slotsOut > sandbox.capacity || sandbox.slotsOut < 0 {
            return ("slots out never exceed capacity", "\(sandbox.id) has \(sandbox.slotsOut) of \(sandbox.capacity)")
        }
        for lease in broker.leases.values.sorted(by: { $0.id < $1.id }) {
            guard let sandbox = broker.sandboxes[lease.sandbox],
                !(sandbox.state == .stopped || sandbox.state == .failed)
            else {
                return (
                    "no lease on a stopped sandbox",
                    "\(lease.id) on \(lease.sandbox) (\(broker.sandboxes[lease.sandbox]?.state.rawValue ?? "gone"))"
                )
            }
        }
        for (name, app) in launcher.apps.sorted(by: { $0.key < $1.key })
        where (app.phase != .serving) != broker.paused.contains(name) {
            return ("the broker pauses exactly the apps an operator paused", "\(name) is \(app.phase) in the launcher")
        }
        for (name, app) in launcher.apps.sorted(by: { $0.key < $1.key })
        where !app.activePools.isEmpty && broker.routing[name] != app.activePools.mapValues({ [$0] }) {
            return (
                "the broker routes each app to its active version",
                "\(name) is routed to \(broker.routing[name] ?? [:]), its active pools are \(app.activePools)"
            )
        }
        for pool in launcher.apps.values.flatMap(\.activePools.values).sorted()
        where (launcher.pools[pool]?.stop != nil) != broker.halted.contains(pool) {
            return (
                "the broker stops exactly the serving pools an operator stopped",
                "\(pool): \(launcher.pools[pool]?.stop ?? "running") in the launcher"
            )
        }
        return nil
    }

    /// What the launcher decided holds: active and awaited pools run, waits end in time, and
    /// each pool's lifecycle agrees with its app and deployments.
    func decisions() -> Broken? {
        for (name, app) in launcher.apps.sorted(by: { $0.key < $1.key }) {
            for pool in app.activePools.values.sorted()
            where (launcher.pools[pool]?.desired ?? 0) < 1 && launcher.pools[pool]?.stop == nil {
                return (
                    "an active pool is never scaled to 0 but by an operator",
                    "\(name)'s active pool \(pool) has desired 0"
                )
            }
        }
        for (id, deployment) in launcher.deployments.sorted(by: { $0.key < $1.key }) where deployment.state == .waiting
        {
            for pool in deployment.waitPools.sorted() where (launcher.pools[pool]?.desired ?? 0) < 1 {
                return (
                    "a pool a deploy waits for is never scaled to 0", "\(id) waits for \(pool), which has desired 0"
                )
            }
            if now > deployment.started + deployment.readyTimeout {
                return (
                    "every deployment ends within its timeouts",
                    "\(id) still waits \((now - deployment.started).milliseconds) ms after it started"
                )
            }
        }
        return poolRoles()
    }

    /// Each pool's lifecycle agrees with the deployments: it serves exactly when it is
    /// active, waits for exactly the waiting deployment that waits for it, and is held by
    /// exactly the drain that holds it; a pool that is none of these runs nothing.
    private func poolRoles() -> Broken? {
        let invariant = "a pool's lifecycle agrees with its app and deployments"
        let active = Set(launcher.apps.values.flatMap { $0.activePools.values })
        let waiters = launcher.deployments.filter { $0.value.state == .waiting }
        for (id, pool) in launcher.pools.sorted(by: { $0.key < $1.key }) {
            if pool.serving != active.contains(id) {
                return (invariant, "\(id) serving \(pool.serving), active \(active.contains(id))")
            }
            let waitedBy = waiters.filter { $0.value.waitPools.contains(id) }.map(\.key).sorted()
            if !pool.serving, waitedBy != (pool.waiter.map { [$0] } ?? []) {
                return (invariant, "\(id) waits for \(pool.waiter ?? "none") but \(waitedBy) wait for it")
            }
            let heldBy = launcher.deployments.filter { $0.value.heldPools.contains(id) }.map(\.key).sorted()
            if heldBy != (pool.drainHolder.map { [$0] } ?? []) {
                return (invariant, "\(id) is held by \(pool.drainHolder ?? "none") but \(heldBy) hold it")
            }
            if !pool.serving, pool.waiter == nil, pool.drainHolder == nil, pool.desired > 0 {
                return (invariant, "\(id) is wanted by nothing but runs \(pool.desired)")
            }
        }
        return nil
    }
}
