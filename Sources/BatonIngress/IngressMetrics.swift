import BatonCore
import CoreMetrics
import Metrics
import NIOConcurrencyHelpers

/// What the ingress counts, per app, through swift-metrics. Names are fixed here, in one
/// place, because a Prometheus registry refuses one name used two ways.
public struct IngressMetrics: Sendable {
    private let factory: any MetricsFactory
    /// Counters already made, so the request path does not ask the registry each time.
    private let counters = NIOLockedValueBox<[CounterKey: Counter]>([:])

    private struct CounterKey: Hashable {
        var label: String
        var dimensions: [String]
    }

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    private func count(_ label: String, _ dimensions: [(String, String)]) {
        let key = CounterKey(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        let counter = counters.withLockedValue { cache in
            if let existing = cache[key] { return existing }
            let made = Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = made
            return made
        }
        counter.increment()
    }

    /// Counts nothing; for an ingress without a metrics endpoint.
    public static let disabled = IngressMetrics(factory: NOOPMetricsHandler.instance)

    func request(app: AppName, status: String) {
        count("baton_ingress_requests_total", [("app", app.rawValue), ("status", status)])
    }

    func upstreamAttempt(app: AppName) {
        count("baton_ingress_upstream_attempts_total", [("app", app.rawValue)])
    }

    func retry(app: AppName, reason: String) {
        count("baton_ingress_retries_total", [("app", app.rawValue), ("reason", reason)])
    }

    func retryNotMade(app: AppName, reason: String) {
        count("baton_ingress_retries_not_made_total", [("app", app.rawValue), ("reason", reason)])
    }

    func held(app: AppName, for duration: Duration) {
        Timer(label: "baton_ingress_hold_seconds", dimensions: [("app", app.rawValue)], factory: factory).record(
            duration: duration
        )
    }

    func leaseAcquired(app: AppName) {
        count("baton_ingress_lease_acquisitions_total", [("app", app.rawValue)])
    }

    func leaseRevoked(app: AppName, reason: String) {
        count("baton_ingress_lease_revocations_total", [("app", app.rawValue), ("reason", reason)])
    }

    func streamClosedAtDeadline(app: AppName) {
        count("baton_ingress_streams_closed_at_deadline_total", [("app", app.rawValue)])
    }
}
