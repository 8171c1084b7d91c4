import BatonCore
import BatonJSON
import Logging

/// The version names the operator gave so far, by app and spec image: deploying a spec again
/// reuses its version, which makes it a rollback.
struct VersionBook {
    private var names: [String: String] = [:]
    private var next = 0

    /// A deploy of `spec` of `app` with timeouts from `random`, each service run `instances` times.
    mutating func request(
        _ app: AppName,
        _ spec: (image: String, instances: Int),
        instances: Int,
        random: inout SeededGenerator
    ) -> DeployRequest {
        let key = app.rawValue + "/" + spec.image
        let version: String
        if let known = names[key] {
            version = known
        } else {
            next += 1
            version = "v\(next)"
            names[key] = version
        }
        return DeployRequest(
            app: app,
            version: version,
            services: [
                ServiceSpec(
                    name: "web",
                    instances: instances,
                    spec: ["image": .string(spec.image)],
                    slotsPerSandbox: 2
                )
            ],
            readyTimeout: .milliseconds(Int64.random(in: 1_000...5_000, using: &random)),
            drainTimeout: .milliseconds(Int64.random(in: 0...3_000, using: &random))
        )
    }
}

extension Simulation {
    /// A node's broker and launcher on the simulated clock, world and TTLs, logging nothing.
    static func core(
        clock: ManualClock,
        world: SimulatedWorld,
        role: LauncherRole = .leading
    ) -> (broker: LeaseBroker, launcher: Launcher, logger: Logger) {
        var logger = Logger(label: "simulation")
        logger.logLevel = .critical
        let broker = LeaseBroker(clock: clock, probe: world, logger: logger, leaseTTL: leaseTTL)
        let launcher = Launcher(
            broker: broker,
            clock: clock,
            defaultScheduler: "sim",
            logger: logger,
            streamDrain: streamDrain,
            role: role
        )
        return (broker, launcher, logger)
    }
}
