import NIOCore
import NIOSSL

/// Stands before TLS on an HTTPS connection accepted while a TLS-ALPN-01 challenge is open:
/// reads the ClientHello, then hands the connection to the handshake that answers the
/// validation, when the hello is one (`ChallengeBoard.handshake(answering:)`), or else to
/// the usual one, untouched: the bytes read go on to TLS as they came, and it leaves.
final class ClientHelloSwitch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let challenges: ChallengeBoard
    private let usual: NIOSSLContext
    /// What came before the hello was whole: at most `ClientHello`'s bound.
    private var received = ByteBuffer()

    init(challenges: ChallengeBoard, usual: NIOSSLContext) {
        self.challenges = challenges
        self.usual = usual
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        let handshake: NIOSSLContext
        switch ClientHello.read(received) {
        case .incomplete: return
        case .unreadable: handshake = usual
        case .hello(let hello): handshake = challenges.handshake(answering: hello) ?? usual
        }
        do {
            try context.pipeline.syncOperations.addHandler(
                NIOSSLServerHandler(context: handshake),
                position: .after(self)
            )
        } catch {
            return context.fireErrorCaught(error)
        }
        context.fireChannelRead(wrapInboundOut(received))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
