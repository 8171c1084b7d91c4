import BatonCore

/// A broken promise: the seed and step that broke it, and the steps that led there.
public struct InvariantBroken: Error, CustomStringConvertible {
    public var seed: UInt64
    public var step: Int
    public var invariant: String
    public var detail: String
    public var trace: [String]
    /// The command that runs the seed again up to the step.
    public var replay: String

    public var description: String {
        """
        seed \(seed) broke "\(invariant)" at step \(step): \(detail)
        replay: \(replay)
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

        let core = CoreInvariants(broker: broker, launcher: launcher, now: now)
        if let broken = core.brokerAgrees() ?? core.decisions() { try self.broken(broken.invariant, broken.detail) }
        if let violation {
            self.violation = nil
            try broken(violation.invariant, violation.detail)
        }
        try checkStops(launcher)
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
        if before.routes.filter({ !removing.contains($0.value.app) }) != after.routes {
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
        throw InvariantBroken(
            seed: options.seed,
            step: step,
            invariant: invariant,
            detail: detail,
            trace: trace,
            replay: "scripts/simulate --seed \(options.seed) --steps \(step)"
        )
    }
}
