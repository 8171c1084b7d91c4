import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// What a host knows about handing over to the next one, or taking over from the last.
final class HandoverState: Sendable {
    let takesOver: Bool
    let drain: Duration
    /// The configured addresses, by which inherited listeners are matched.
    let ingressAddress: String?
    let metricsAddress: String?
    private let server = NIOLockedValueBox<HandoffServer?>(nil)
    private let handedOverFlag = NIOLockedValueBox(false)
    private let drained = AsyncStream<Void>.makeStream()
    /// Of the two things a host that handed over waits for before it exits: its answer to the
    /// next host has gone out, and its requests in flight are done.
    private let pending = NIOLockedValueBox(2)

    init(takesOver: Bool, drain: Duration, ingressAddress: String?, metricsAddress: String?) {
        self.takesOver = takesOver
        self.drain = drain
        self.ingressAddress = ingressAddress
        self.metricsAddress = metricsAddress
    }

    func socketPath(in stateDirectory: String) -> String { stateDirectory + "/handoff.sock" }

    /// The inherited listener for `name` when it was bound where this host is configured to
    /// listen; otherwise this host binds its own.
    static func take(_ name: String, at address: String?, from inherited: inout [HandedListener]) -> Int32? {
        guard let address, let index = inherited.firstIndex(where: { $0.name == name && $0.address == address }) else { return nil }
        return inherited.remove(at: index).descriptor
    }

    func serve(with handoff: HandoffServer) {
        server.withLockedValue { $0 = handoff }
    }

    func stopServing() {
        server.withLockedValue { current in
            current?.stop()
            current = nil
        }
    }

    var handedOver: Bool { handedOverFlag.withLockedValue { $0 } }

    func markHandedOver() {
        handedOverFlag.withLockedValue { $0 = true }
    }

    /// The host that handed over is done with its requests in flight.
    func finishDraining() {
        countDown()
    }

    /// The handover server answered the next host, or stopped listening.
    func answered() {
        guard handedOver else { return }
        countDown()
    }

    private func countDown() {
        if pending.withLockedValue({ left in
            left -= 1
            return left == 0
        }) {
            drained.continuation.finish()
        }
    }

    /// Returns once the handover is over (answered and drained), or when the calling task is
    /// cancelled.
    func finished() async {
        for await _ in drained.stream {}
    }
}
