import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Stands behind the TLS handler until the handshake is done: a handshake not done within
/// `timeout` of the connection, or one that fails, closes that connection alone and is
/// counted. Once done, `established` builds the rest of the pipeline for the protocol ALPN
/// chose, and the guard leaves.
public final class TLSHandshakeGuard: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private enum State {
        case handshaking(Scheduled<Void>?)
        case established
        case failed
    }

    private var state = State.handshaking(nil)
    private let timeout: TimeAmount
    private let metrics: TLSMetrics
    private let logger: Logger
    private let established: (any Channel, String?) throws -> Void

    public init(
        timeout: TimeAmount,
        metrics: TLSMetrics,
        logger: Logger,
        established: @escaping (any Channel, String?) throws -> Void
    ) {
        self.timeout = timeout
        self.metrics = metrics
        self.logger = logger
        self.established = established
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.fail(
                context,
                reason: "timeout",
                "no TLS handshake within \(handler.timeout.nanoseconds / 1_000_000) ms (setting ingress.tlsHandshakeTimeoutMs)"
            )
        }
        state = .handshaking(timer)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        if case .handshaking(let timer) = state { timer?.cancel() }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshaking(let timer) = state, event is ChannelShouldQuiesceEvent {
            // A handover or a shutdown: a connection that has not even begun a request ends now.
            timer?.cancel()
            state = .failed
            return context.close(promise: nil)
        }
        guard case .handshaking(let timer) = state, case TLSUserEvent.handshakeCompleted(let negotiated) = event else {
            return context.fireUserInboundEventTriggered(event)
        }
        timer?.cancel()
        state = .established
        if negotiated == ChallengeBoard.tlsALPNProtocol {
            // A TLS-ALPN-01 validation (RFC 8737 §3): the handshake was all it asked for.
            return context.close(promise: nil)
        }
        do {
            try established(context.channel, negotiated)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            fail(context, reason: "error", "the connection could not be set up: \(error)")
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard case .handshaking = state else { return context.fireErrorCaught(error) }
        fail(context, reason: "error", "\(error)")
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if case .handshaking = state { fail(context, reason: "error", "the client closed the connection") }
        context.fireChannelInactive()
    }

    private func fail(_ context: ChannelHandlerContext, reason: String, _ why: String) {
        guard case .handshaking(let timer) = state else { return }
        timer?.cancel()
        state = .failed
        metrics.handshakeFailed(reason: reason)
        // Debug only: anyone can make handshakes fail, the counter says how many.
        logger.debug("TLS handshake failed", metadata: ["reason": "\(why)"])
        context.close(promise: nil)
    }
}
