import CoreMetrics
import Metrics

/// What the ingress counts, per app, through swift-metrics. Names are fixed here, in one
/// place, because a Prometheus registry refuses one name used two ways.
public struct IngressMetrics: Sendable {
    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Counts nothing; for an ingress without a metrics endpoint.
    public static let disabled = IngressMetrics(factory: NOOPMetricsHandler.instance)

    func request(app: String, status: String) {
        Counter(label: "baton_ingress_requests_total", dimensions: [("app", app), ("status", status)], factory: factory).increment()
    }

    func upstreamAttempt(app: String) {
        Counter(label: "baton_ingress_upstream_attempts_total", dimensions: [("app", app)], factory: factory).increment()
    }

    func retry(app: String, reason: String) {
        Counter(label: "baton_ingress_retries_total", dimensions: [("app", app), ("reason", reason)], factory: factory).increment()
    }

    func retryNotMade(app: String, reason: String) {
        Counter(label: "baton_ingress_retries_not_made_total", dimensions: [("app", app), ("reason", reason)], factory: factory).increment()
    }

    func held(app: String, for duration: Duration) {
        Timer(label: "baton_ingress_hold_seconds", dimensions: [("app", app)], factory: factory).record(duration: duration)
    }

    func leaseAcquired(app: String) {
        Counter(label: "baton_ingress_lease_acquisitions_total", dimensions: [("app", app)], factory: factory).increment()
    }

    func leaseRevoked(app: String, reason: String) {
        Counter(label: "baton_ingress_lease_revocations_total", dimensions: [("app", app), ("reason", reason)], factory: factory).increment()
    }

    func streamClosedAtDeadline(app: String) {
        Counter(label: "baton_ingress_streams_closed_at_deadline_total", dimensions: [("app", app)], factory: factory).increment()
    }
}
