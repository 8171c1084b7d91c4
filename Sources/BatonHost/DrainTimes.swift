import BatonCore
import CoreMetrics
import Logging
import Metrics
import NIOConcurrencyHelpers

/// Records how long old pools took to drain after each cutover, and whether they
/// drained or hit the drain timeout (`baton_drain_seconds{app, outcome}`).
final class DrainTimes: Sendable {
    private let factory: any MetricsFactory
    private let logger: Logger
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    init(factory: any MetricsFactory, logger: Logger) {
        self.factory = factory
        self.logger = logger
    }

    /// Follows the launcher's events until stopped. A stream that ends because this follower
    /// fell behind is subscribed again, with a log line: the drains in between are not timed.
    func follow(_ bus: EventBus<CoreEvent>) {
        let factory = self.factory
        let logger = self.logger
        let first = bus.subscribe()  // from now on, before the task runs
        task.withLockedValue {
            $0 = Task {
                var cutovers: [DeploymentID: CoreInstant] = [:]
                var events = first
                while !Task.isCancelled {
                    for await event in events { Self.record(event, cutovers: &cutovers, factory: factory) }
                    guard !Task.isCancelled else { return }
                    logger.warning("drain timing fell behind the launcher's events; some drains are not timed")
                    cutovers = [:]
                    events = bus.subscribe()
                }
            }
        }
    }

    private static func record(
        _ event: CoreEvent,
        cutovers: inout [DeploymentID: CoreInstant],
        factory: any MetricsFactory
    ) {
        guard let deployment = event.deployment else { return }
        switch event.kind {
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

    func stop() {
        task.withLockedValue { $0?.cancel() }
    }
}
