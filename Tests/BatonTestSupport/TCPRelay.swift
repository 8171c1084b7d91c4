import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// For tests: a loopback TCP relay to `127.0.0.1:target` that a test can cut, as a network
/// partition would (every connection through it is closed and new ones are closed at once),
/// and restore. Stopped with `stop()`.
public final class TCPRelay: Sendable {
    public let port: Int
    private let listener: any Channel
    private let state: NIOLockedValueBox<State>

    private struct State {
        var link = Link.relaying
        var open: [ObjectIdentifier: any Channel] = [:]
    }

    private enum Link {
        case relaying
        case cut
    }

    private init(port: Int, listener: any Channel, state: NIOLockedValueBox<State>) {
        self.port = port
        self.listener = listener
        self.state = state
    }

    public static func start(to target: Int) async throws -> TCPRelay {
        let state = NIOLockedValueBox(State())
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { client in
                let link = state.withLockedValue { state -> Link in
                    if state.link == .relaying { state.open[ObjectIdentifier(client)] = client }
                    return state.link
                }
                guard link == .relaying else { return client.close() }
                client.closeFuture.whenComplete { _ in
                    state.withLockedValue { _ = $0.open.removeValue(forKey: ObjectIdentifier(client)) }
                }
                return ClientBootstrap(group: client.eventLoop)
                    .connect(host: "127.0.0.1", port: target)
                    .flatMap { upstream in
                        state.withLockedValue { $0.open[ObjectIdentifier(upstream)] = upstream }
                        upstream.closeFuture.whenComplete { _ in
                            state.withLockedValue { _ = $0.open.removeValue(forKey: ObjectIdentifier(upstream)) }
                        }
                        // Both on the client's loop: each pipeline takes its handler there.
                        return client.eventLoop.makeCompletedFuture {
                            try client.pipeline.syncOperations.addHandler(Relay(to: upstream))
                            try upstream.pipeline.syncOperations.addHandler(Relay(to: client))
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TCPRelay(port: listener.localAddress!.port!, listener: listener, state: state)
    }

    /// Closes every connection through the relay, and each new one as it comes.
    public func cut() {
        let open = state.withLockedValue { state -> [any Channel] in
            state.link = .cut
            return Array(state.open.values)
        }
        for channel in open { channel.close(promise: nil) }
    }

    public func restore() {
        state.withLockedValue { $0.link = .relaying }
    }

    public func stop() async {
        cut()
        try? await listener.close()
    }
}

/// Writes what one side reads to the other, and closes the other side when this one closes.
private final class Relay: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let peer: any Channel

    init(to peer: any Channel) {
        self.peer = peer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let own = context.channel
        peer.writeAndFlush(unwrapInboundIn(data)).whenFailure { _ in own.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
        context.fireChannelInactive()
    }
}
