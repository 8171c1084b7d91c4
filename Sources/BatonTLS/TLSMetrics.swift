import CoreMetrics
import Metrics

/// What HTTPS counts, through swift-metrics; the names are fixed here, in one place.
public struct TLSMetrics: Sendable {
    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Counts nothing; for a host without a metrics endpoint.
    public static let disabled = TLSMetrics(factory: NOOPMetricsHandler.instance)

    /// Whether `host` has a certificate that serves, and when it expires.
    func serving(host: String, valid: Bool, notAfter: Int64?) {
        Gauge(label: "baton_tls_certificate_valid", dimensions: [("host", host)], factory: factory).record(
            valid ? 1 : 0
        )
        if let notAfter {
            Gauge(
                label: "baton_tls_certificate_expiry_timestamp_seconds",
                dimensions: [("host", host)],
                factory: factory
            )
            .record(notAfter)
        }
    }

    /// A host no route serves over HTTPS any more.
    func forget(host: String) {
        for label in ["baton_tls_certificate_valid", "baton_tls_certificate_expiry_timestamp_seconds"] {
            Gauge(label: label, dimensions: [("host", host)], factory: factory).destroy()
        }
    }

    /// A handshake given no certificate, by why (`HandshakeRefusal`).
    func certificateRefused(reason: String) {
        Counter(label: "baton_tls_certificate_refusals_total", dimensions: [("reason", reason)], factory: factory)
            .increment()
    }

    /// A handshake that ended without a connection: `timeout`, or `error` (garbage, a
    /// refused certificate, an alert from the client).
    func handshakeFailed(reason: String) {
        Counter(label: "baton_tls_handshakes_failed_total", dimensions: [("reason", reason)], factory: factory)
            .increment()
    }
}
