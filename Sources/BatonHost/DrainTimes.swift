import BatonCore
import CoreMetrics
import Logging
import Metrics

/// Records how long old pools took to drain after each cutover, and whether they
/// drained or hit the drain timeout (`baton_drain_seconds{app, outcome}`).
struct DrainTimes: Sendable {
    private let factory: any MetricsFactory
    private let logger: Logger

    init(factory: any MetricsFactory, logger: Logger) {
        self.factory = factory
        self.logger = logger
    }

    /// Follows the launcher's events until cancelled. A stream that ends because this
    /// follower fell behind is subscribed again, with a log line: the drains in between are
    /// not timed.
    func run(following bus: EventBus<CoreEvent>) async {
        var cutovers: [DeploymentID: CoreInstant] = [:]
        var events = bus.subscribe()
        while !Task.isCancelled {
            for await event in events { Self.record(event, cutovers: &cutovers, factory: factory) }
            guard !Task.isCancelled else { return }
            logger.warning("drain timing fell behind the launcher's events; some drains are not timed")
            cutovers = [:]
            events = bus.subscribe()
        }
    }

    private static func record(
        _ event: CoreEvent,
        cutovers: inout [DeploymentID: CoreInstant],
        factory: any MetricsFactory
    ) {
        guard let deployment = event.deployment else { return }
        switch event.type {
        case .deployCutover:
            cutovers[deployment] = event.time
        case .poolScaledDown:
            guard let start = cutovers[deployment] else { return }
            let outcome = event.reason.flatMap(ScaleDownReason.init(rawValue:)) == .drained ? "drained" : "timeout"
            Timer(
                label: "baton_drain_seconds",
                dimensions: [("app", event.app.rawValue), ("outcome", outcome)],
                factory: factory
            )
            .record(duration: event.time - start)
        case .deployDone, .deployFailed, .deploySuperseded:
            cutovers.removeValue(forKey: deployment)
        default:
            break
        }
    }
}
