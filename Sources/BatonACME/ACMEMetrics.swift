import CoreMetrics
import Metrics

/// What ACME counts, through swift-metrics; the names are fixed here, in one place.
public struct ACMEMetrics: Sendable {
    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// An order for `host` ended: `issued` or `failed`.
    func ordered(host: String, result: String) {
        Counter(label: "baton_acme_orders_total", dimensions: [("host", host), ("result", result)], factory: factory)
            .increment()
    }

    /// How many orders for `host` failed in a row; 0 once one succeeds.
    func failuresInRow(host: String, _ count: Int) {
        Gauge(label: "baton_acme_failures_in_row", dimensions: [("host", host)], factory: factory).record(count)
    }

    /// A nonce the server refused, and the request signed again with its fresh one.
    func nonceRefused() {
        Counter(label: "baton_acme_nonces_refused_total", factory: factory).increment()
    }

    /// A host no route wants a certificate from ACME for any more.
    func forget(host: String) {
        Gauge(label: "baton_acme_failures_in_row", dimensions: [("host", host)], factory: factory).destroy()
    }
}
