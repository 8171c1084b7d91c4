import BatonCore

/// A broken promise: the seed and step that broke it, and the steps that led there.
public struct InvariantBroken: Error, CustomStringConvertible {
    public var seed: UInt64
    public var step: Int
    public var invariant: String
    public var detail: String
    public var trace: [String]

    public var description: String {
        """
        seed \(seed) broke "\(invariant)" at step \(step): \(detail)
        replay: scripts/simulate --seed \(seed) --steps \(step)
        last steps:
        \(trace.suffix(40).joined(separator: "\n"))
        """
    }
}

/// What held before a step, for the checks that compare.
struct Snapshot {
    var serving: Set<AppName>

    static func take(_ simulation: Simulation) async -> Snapshot {
        let broker = await simulation.host.broker.view()
        return Snapshot(serving: Set(Simulation.apps.filter(broker.serves)))
    }
}

/// What the launcher held before a restart, and what it took back from the store before
/// any scheduler spoke.
struct RestartCheck {
    var before: LauncherView
    var after: LauncherView
}

extension Simulation {
    /// The most any collection may hold over a run of any length.
    static let bounds = [
        "broker.sandboxes": 200, "broker.leases": 200, "launcher.pools": 64, "launcher.deployments": 64,
        "launcher.versions": 64,
    ]

    func check(after kind: StepKind, before: Snapshot) async throws(InvariantBroken) {
        let broker = await host.broker.view()
        let launcher = await host.launcher.view()
        let now = clock.now

        for sandbox in broker.sandboxes.values where sandbox.slotsOut > sandbox.capacity || sandbox.slotsOut < 0 {
            try broken(
                "slots out never exceed capacity",
                "\(sandbox.id) has \(sandbox.slotsOut) of \(sandbox.capacity)"
            )
        }
        for lease in broker.leases.values {
            guard let sandbox = broker.sandboxes[lease.sandbox],
                !(sandbox.state == .stopped || sandbox.state == .failed)
            else {
                try broken(
                    "no lease on a stopped sandbox",
                    "\(lease.id) on \(lease.sandbox) (\(broker.sandboxes[lease.sandbox]?.state.rawValue ?? "gone"))"
                )
            }
        }
        if let violation {
            self.violation = nil
            try broken(violation.invariant, violation.detail)
        }
        for (name, app) in launcher.apps {
            for pool in app.activePools.values
            where (launcher.pools[pool]?.desired ?? 0) < 1 && launcher.pools[pool]?.stop == nil {
                try broken(
                    "an active pool is never scaled to 0 but by an operator",
                    "\(name)'s active pool \(pool) has desired 0"
                )
            }
        }
        try checkStops(launcher)
        for (name, app) in launcher.apps where (app.phase != .serving) != broker.paused.contains(name) {
            try broken(
                "the broker pauses exactly the apps an operator paused",
                "\(name) is \(app.phase) in the launcher"
            )
        }
        for pool in launcher.apps.values.flatMap(\.activePools.values)
        where (launcher.pools[pool]?.stop != nil) != broker.halted.contains(pool) {
            try broken(
                "the broker stops exactly the serving pools an operator stopped",
                "\(pool): \(launcher.pools[pool]?.stop ?? "running") in the launcher"
            )
        }
        for (id, deployment) in launcher.deployments where deployment.state == .waiting {
            for pool in deployment.waitPools where (launcher.pools[pool]?.desired ?? 0) < 1 {
                try broken(
                    "a pool a deploy waits for is never scaled to 0",
                    "\(id) waits for \(pool), which has desired 0"
                )
            }
            if now > deployment.started + deployment.readyTimeout {
                try broken(
                    "every deployment ends within its timeouts",
                    "\(id) still waits \((now - deployment.started).milliseconds) ms after it started"
                )
            }
        }
        try checkPoolRoles(launcher)
        for (id, deployment) in launcher.deployments where deployment.state == .draining || deployment.state == .cutover
        {
            let deadline = (cutoverAt[id] ?? deployment.started) + deployment.drainTimeout + Self.streamDrain
            if now > deadline {
                try broken(
                    "every deployment ends within its timeouts",
                    "\(id) still drains at \(now), past \(deadline)"
                )
            }
        }
        if kind == .calm {
            for app in before.serving where !broker.serves(app) {
                let routed = Set((broker.routing[app] ?? [:]).values.flatMap { $0 })
                let sandboxes = broker.sandboxes.values.filter { routed.contains($0.pool) }.sorted { $0.id < $1.id }
                    .map { "\($0.id) \($0.state)\($0.admitted ? " admitted" : "")\($0.suspect ? " suspect" : "")" }
                try broken(
                    "an app that serves keeps serving unless a fault strikes",
                    "\(app) stopped serving; it routes to \(routed.sorted()) (active \(launcher.apps[app]?.activePools ?? [:])) with \(sandboxes)"
                )
            }
        }
        // A stream dies with its sandbox; otherwise it keeps its lease as long as it is open.
        streams.removeAll { broker.sandboxes[$0.sandbox].map { $0.state == .stopped || $0.state == .failed } ?? true }
        for stream in streams {
            guard broker.leases[stream.id] != nil else {
                try broken(
                    "a stream keeps its lease while it is open",
                    "\(stream.id) on \(stream.sandbox) is gone, whatever its TTL"
                )
            }
            guard let sandbox = broker.sandboxes[stream.sandbox] else { continue }
            let since = drainingSince[stream.sandbox] ?? now
            if (launcher.pools[sandbox.pool]?.desired ?? 0) == 0, now < since + Self.streamDrain {
                try broken(
                    "a stream's sandbox lives until the stream drain deadline",
                    "\(stream.sandbox) scaled down \((now - since).milliseconds) ms into its drain"
                )
            }
        }
        if let restart = restartCheck {
            restartCheck = nil
            try compare(restart.before, restart.after)
        }
        try measure("broker.sandboxes", broker.sandboxes.count)
        try measure("broker.leases", broker.leases.count)
        try measure("launcher.pools", launcher.pools.count)
        try measure("launcher.deployments", launcher.deployments.count)
        try measure("launcher.versions", launcher.versions)
    }

    /// Each pool's lifecycle agrees with the deployments: it serves exactly when it is
    /// active, waits for exactly the waiting deployment that waits for it, and is held by
    /// exactly the drain that holds it; a pool that is none of these runs nothing.
    private func checkPoolRoles(_ launcher: LauncherView) throws(InvariantBroken) {
        let invariant = "a pool's lifecycle agrees with its app and deployments"
        let active = Set(launcher.apps.values.flatMap { $0.activePools.values })
        let waiters = launcher.deployments.filter { $0.value.state == .waiting }
        for (id, pool) in launcher.pools {
            if pool.serving != active.contains(id) {
                try broken(invariant, "\(id) serving \(pool.serving), active \(active.contains(id))")
            }
            let waitedBy = waiters.filter { $0.value.waitPools.contains(id) }.map(\.key).sorted()
            if !pool.serving, waitedBy != (pool.waiter.map { [$0] } ?? []) {
                try broken(invariant, "\(id) waits for \(pool.waiter ?? "none") but \(waitedBy) wait for it")
            }
            let heldBy = launcher.deployments.filter { $0.value.heldPools.contains(id) }.map(\.key).sorted()
            if heldBy != (pool.drainHolder.map { [$0] } ?? []) {
                try broken(invariant, "\(id) is held by \(pool.drainHolder ?? "none") but \(heldBy) hold it")
            }
            if !pool.serving, pool.waiter == nil, pool.drainHolder == nil, pool.desired > 0 {
                try broken(invariant, "\(id) is wanted by nothing but runs \(pool.desired)")
            }
        }
    }

    /// State after a restart equals state before, but for leases and the drains a restart ends.
    private func compare(_ before: LauncherView, _ after: LauncherView) throws(InvariantBroken) {
        let invariant = "state after a restart equals state before, minus leases"
        // An app being removed may be forgotten by the restart: its drain ended with the old process.
        let removing = Set(before.apps.filter { $0.value.phase == .removing }.keys)
        for (name, app) in before.apps where !removing.contains(name) {
            guard let restored = after.apps[name], restored.activeVersion == app.activeVersion,
                restored.activePools == app.activePools, restored.phase == app.phase
            else {
                try broken(
                    invariant,
                    "\(name) served \(app.activeVersion ?? "nothing") (\(app.phase)) and now \(after.apps[name]?.activeVersion ?? "nothing") (\(after.apps[name]?.phase.rawValue ?? "gone"))"
                )
            }
        }
        for (id, pool) in before.pools where pool.stop != nil && !removing.contains(pool.app) {
            if after.pools[id]?.stop != "stopped" || after.pools[id]?.desired != 0 {
                try broken(invariant, "\(id) was stopping and came back \(after.pools[id]?.stop ?? "running")")
            }
        }
        if before.routes.filter({ !removing.contains($0.value) }) != after.routes {
            try broken(invariant, "routes \(before.routes) became \(after.routes)")
        }
        for (id, deployment) in before.deployments where !removing.contains(deployment.app) {
            let expected: DeploymentState =
                deployment.state == .cutover || deployment.state == .draining ? .done : deployment.state
            if after.deployments[id]?.state != expected {
                try broken(
                    invariant,
                    "\(id) was \(deployment.state) and came back \(after.deployments[id]?.state.rawValue ?? "missing")"
                )
            }
        }
    }

    private func measure(_ name: String, _ count: Int) throws(InvariantBroken) {
        report.most[name] = max(report.most[name] ?? 0, count)
        if let bound = Self.bounds[name], count > bound {
            try broken("collections stay bounded", "\(name) holds \(count), more than \(bound)")
        }
    }

    func broken(_ invariant: String, _ detail: String) throws(InvariantBroken) -> Never {
        throw InvariantBroken(seed: options.seed, step: step, invariant: invariant, detail: detail, trace: trace)
    }
}
