import BatonCore
import CoreMetrics
import Metrics
import NIOConcurrencyHelpers

/// Records how long old pools took to drain after each cutover, and whether they
/// drained or hit the drain timeout (`baton_drain_seconds{app, outcome}`).
final class DrainTimes: Sendable {
    private let factory: any MetricsFactory
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func follow(_ events: AsyncStream<CoreEvent>) {
        let factory = self.factory
        task.withLockedValue {
            $0 = Task {
                var cutovers: [String: Int64] = [:]
                for await event in events {
                    guard let deployment = event.deployment else { continue }
                    switch event.kind {
                    case .deployCutover:
                        cutovers[deployment] = event.timeMs
                    case .poolScaledDown:
                        guard let start = cutovers[deployment] else { continue }
                        let outcome = event.reason.flatMap(ScaleDownReason.init(rawValue:)) == .drained ? "drained" : "timeout"
                        Timer(label: "baton_drain_seconds", dimensions: [("app", event.app), ("outcome", outcome)], factory: factory)
                            .recordMilliseconds(event.timeMs - start)
                    case .deployDone, .deployFailed, .deploySuperseded:
                        cutovers.removeValue(forKey: deployment)
                    default:
                        break
                    }
                }
            }
        }
    }

    func stop() {
        task.withLockedValue { $0?.cancel() }
    }
}
