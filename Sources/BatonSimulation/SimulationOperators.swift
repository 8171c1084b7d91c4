import BatonCore

/// The operator's verbs between deploys: scale (0 stops a service), pause, resume, remove.
extension Simulation {
    func operate() async -> StepKind {
        guard let app = pick(Self.apps) else { return .calm }
        let launcher = host.launcher
        let drain = Duration.milliseconds(Int64.random(in: 0...3_000, using: &random))
        do {
            switch Int.random(in: 0..<20, using: &random) {
            case 0..<6:
                try await launcher.scale(app: app, service: "web", instances: 0, drainTimeout: drain)
                if let pool = await launcher.view().apps[app]?.activePools["web"], stopStarted[pool] == nil {
                    stopStarted[pool] = (clock.now, drain)
                }
                note("operator scales \(app) to 0 (drain \(drain.milliseconds) ms)")
                return .held
            case 6..<12:
                let instances = Int.random(in: 1...3, using: &random)
                try await launcher.scale(app: app, service: "web", instances: instances, drainTimeout: drain)
                note("operator scales \(app) to \(instances)")
            case 12..<16:
                try await launcher.pause(app: app)
                note("operator pauses \(app)")
                return .held
            case 16..<19:
                try await launcher.resume(app: app)
                note("operator resumes \(app)")
            default:
                try await launcher.remove(app: app, drainTimeout: drain)
                note("operator removes \(app) (drain \(drain.milliseconds) ms)")
                return .held
            }
        } catch {
            note("operator refused: \(error.message)")
        }
        return .calm
    }

    /// A lease just handed out for `app`, checked against what the operator asked: a paused
    /// or removed app, or a stopped service, hands out none.
    func checkGranted(_ lease: Lease, before view: LauncherView) {
        let phase = view.apps[lease.app]?.phase ?? .serving
        let pool = view.apps[lease.app]?.activePools[lease.service]
        if phase != .serving {
            violation = ("a paused app hands out no lease", "\(lease.id) of \(lease.app) while \(phase)")
        } else if let pool, view.pools[pool]?.stop != nil {
            violation = ("a stopped service hands out no lease", "\(lease.id) of \(lease.app) in stopped \(pool)")
        }
    }

    /// Every stop an operator started ends within its drain timeout and the stream drain
    /// deadline; stops that ended or were taken over are forgotten.
    func checkStops(_ launcher: LauncherView) throws(InvariantBroken) {
        for (pool, started) in stopStarted {
            switch launcher.pools[pool]?.stop {
            case "draining"?:
                if clock.now > started.at + started.drain + Self.streamDrain {
                    try broken("every operator stop ends within its timeouts", "\(pool) still drains at \(clock.now)")
                }
            case "stopped"?:
                if launcher.pools[pool]?.desired != 0 {
                    try broken(
                        "a stopped service runs nothing",
                        "\(pool) stopped with desired \(launcher.pools[pool]!.desired)"
                    )
                }
            default:
                stopStarted.removeValue(forKey: pool)
            }
        }
    }
}
