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

    /// A counter's name, app and second label's value: no array is made per request.
    private struct CounterKey: Hashable {
        var label: String
        var app: AppName
        var detail: String
    }

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Counts one under `label` for `app`, and `detail` under the label `detailName` if given.
    private func count(_ label: String, app: AppName, _ detailName: String? = nil, _ detail: String = "") {
        let key = CounterKey(label: label, app: app, detail: detail)
        let counter = counters.withLockedValue { cache in
            if let existing = cache[key] { return existing }
            var dimensions = [("app", app.rawValue)]
            if let detailName { dimensions.append((detailName, detail)) }
            let made = Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = made
            return made
        }
        counter.increment()
    }

    /// Counts nothing; for an ingress without a metrics endpoint.
    public static let disabled = IngressMetrics(factory: NOOPMetricsHandler.instance)

    func request(app: AppName, status: String) {
        count("baton_ingress_requests_total", app: app, "status", status)
    }

    func upstreamAttempt(app: AppName) {
        count("baton_ingress_upstream_attempts_total", app: app)
    }

    func retry(app: AppName, reason: String) {
        count("baton_ingress_retries_total", app: app, "reason", reason)
    }

    func retryNotMade(app: AppName, reason: String) {
        count("baton_ingress_retries_not_made_total", app: app, "reason", reason)
    }

    func held(app: AppName, for duration: Duration) {
        Timer(label: "baton_ingress_hold_seconds", dimensions: [("app", app.rawValue)], factory: factory).record(
            duration: duration
        )
    }

    func leaseAcquired(app: AppName) {
        count("baton_ingress_lease_acquisitions_total", app: app)
    }

    func leaseRevoked(app: AppName, reason: String) {
        count("baton_ingress_lease_revocations_total", app: app, "reason", reason)
    }

    /// An HTTP/2 connection closed for breaking the protocol or its limits, by the error's kind.
    func http2ConnectionClosed(reason: String) {
        Counter(label: "baton_ingress_h2_connection_errors_total", dimensions: [("reason", reason)], factory: factory)
            .increment()
    }

    func streamClosedAtDeadline(app: AppName) {
        count("baton_ingress_streams_closed_at_deadline_total", app: app)
    }
}
