import NIOConcurrencyHelpers

/// What a host knows about handing over to the next one, or taking over from the last.
/// A handover is a graceful shutdown with `handedOver` set: each part of the host reads it
/// to keep what the next host takes (sockets, sandboxes) and to let requests in flight end.
final class HandoverState: Sendable {
    let takesOver: Bool
    let drain: Duration
    /// The configured addresses, by which inherited listeners are matched.
    let ingressAddress: String?
    let httpsAddress: String?
    let metricsAddress: String?
    /// The next host asked this one to step down.
    let stepDownAsked = Milestone()
    /// The state directory is free for the next host.
    let stateReleased = Milestone()
    /// The next host has been told so.
    let answered = Milestone()
    private let phase = NIOLockedValueBox(Phase.serving)

    enum Phase {
        case serving
        case handedOver
    }

    init(takesOver: Bool, drain: Duration, ingressAddress: String?, httpsAddress: String?, metricsAddress: String?) {
        self.takesOver = takesOver
        self.drain = drain
        self.ingressAddress = ingressAddress
        self.httpsAddress = httpsAddress
        self.metricsAddress = metricsAddress
    }

    func socketPath(in stateDirectory: String) -> String { stateDirectory + "/handoff.sock" }

    /// The inherited listener for `name` when it was bound where this host is configured to
    /// listen; otherwise this host binds its own.
    static func take(_ name: String, at address: String?, from inherited: inout [HandedListener]) -> Int32? {
        guard let address, let index = inherited.firstIndex(where: { $0.name == name && $0.address == address }) else {
            return nil
        }
        return inherited.remove(at: index).descriptor
    }

    var handedOver: Bool { phase.withLockedValue { $0 == .handedOver } }

    func stepDown() {
        phase.withLockedValue { $0 = .handedOver }
        stepDownAsked.reach()
    }
}
