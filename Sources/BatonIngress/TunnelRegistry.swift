import BatonCore
import NIOConcurrencyHelpers
import NIOCore

/// The open tunnels by the lease they hold. When a lease is revoked (its sandbox is
/// draining, say), its tunnels live on until the stream drain deadline, then close, each
/// at a random point of the jitter window.
final class TunnelRegistry: Sendable {
    private struct Tunnel {
        var app: AppName
        var client: any Channel
    }

    private let tunnels = NIOLockedValueBox<[LeaseID: [ObjectIdentifier: Tunnel]]>([:])
    private let configuration: IngressConfiguration
    private let metrics: IngressMetrics

    init(configuration: IngressConfiguration, metrics: IngressMetrics) {
        self.configuration = configuration
        self.metrics = metrics
    }

    /// Records a tunnel for as long as its client connection is open.
    func add(lease: Lease, client: any Channel) {
        let key = ObjectIdentifier(client)
        tunnels.withLockedValue { $0[lease.id, default: [:]][key] = Tunnel(app: lease.app, client: client) }
        client.closeFuture.whenComplete { [weak self] _ in
            self?.tunnels.withLockedValue { all in
                all[lease.id]?.removeValue(forKey: key)
                if all[lease.id]?.isEmpty == true { all.removeValue(forKey: lease.id) }
            }
        }
    }

    /// Closes the tunnels on `leases` at the stream drain deadline, each with its jitter.
    func revoked(_ leases: [LeaseID]) {
        let doomed = tunnels.withLockedValue { all in leases.flatMap { all[$0]?.values.map { $0 } ?? [] } }
        let deadline = configuration.streamDrainDeadline.nanoseconds
        let window = configuration.streamCloseJitter.nanoseconds
        let metrics = self.metrics
        for tunnel in doomed {
            let delay = TimeAmount.nanoseconds(deadline + (window > 0 ? Int64.random(in: 0...window) : 0))
            let client = tunnel.client
            let app = tunnel.app
            client.eventLoop.scheduleTask(in: delay) {
                guard client.isActive else { return }
                metrics.streamClosedAtDeadline(app: app)
                client.close(promise: nil)
            }
        }
    }
}
