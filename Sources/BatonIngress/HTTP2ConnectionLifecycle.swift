import Logging
import NIOCore
import NIOHTTP2
import NIOSSL

/// Last on an HTTP/2 connection, after the HTTP/2 handler, which tells it of each stream
/// through `Streams`: it counts the open streams and ends the connection the way HTTP/2 wants. Idle with no stream for `idleTimeout`, or told to
/// quiesce (a handover, a shutdown), it says GOAWAY naming the last stream it took, lets the
/// open streams finish, then closes. A connection error (a rapid reset flood, a broken frame,
/// too many stream errors), for which HTTP/2 has already said GOAWAY, closes it at once.
final class HTTP2ConnectionLifecycle: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private enum State {
        case open(streams: Int, idle: Scheduled<Void>?)
        /// GOAWAY sent; closes once the streams it let finish have.
        case closing(streams: Int)
        case closed
    }

    private var state = State.open(streams: 0, idle: nil)
    private var context: ChannelHandlerContext?
    /// The highest stream the client opened: what GOAWAY says was taken.
    private var lastStream = HTTP2StreamID(0)
    private let idleTimeout: TimeAmount
    private let logger: Logger
    private let metrics: IngressMetrics

    init(idleTimeout: TimeAmount, logger: Logger, metrics: IngressMetrics) {
        self.idleTimeout = idleTimeout
        self.logger = logger
        self.metrics = metrics
    }

    /// What HTTP/2 tells of its streams, handed to the lifecycle on the connection's loop.
    struct Streams: NIOHTTP2StreamDelegate {
        let lifecycle: NIOLoopBound<HTTP2ConnectionLifecycle>

        func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
            lifecycle.value.streamCreated(id)
        }

        func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
            lifecycle.value.streamClosed()
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        state = .open(streams: 0, idle: armIdle(context))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if case .open(_, let idle) = state { idle?.cancel() }
        state = .closed
        self.context = nil
    }

    private func streamCreated(_ id: HTTP2StreamID) {
        lastStream = max(lastStream, id)
        switch state {
        case .open(let streams, let idle):
            idle?.cancel()
            state = .open(streams: streams + 1, idle: nil)
        case .closing(let streams): state = .closing(streams: streams + 1)
        case .closed: break
        }
    }

    private func streamClosed() {
        guard let context else { return }
        switch state {
        case .open(let streams, _): state = .open(streams: streams - 1, idle: streams == 1 ? armIdle(context) : nil)
        case .closing(let streams):
            state = .closing(streams: streams - 1)
            if streams == 1 { close(context) }
        case .closed: break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Taken here, not passed on: the pipeline's end would close the connection at once.
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        goAway(context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !(error is NIOHTTP2Errors.StreamError) else { return }  // costs only its stream
        if case NIOSSLError.uncleanShutdown = error { return close(context) }  // a client gone, no protocol broken
        metrics.http2ConnectionClosed(reason: String(describing: type(of: error)))
        // Debug only: anyone can break the protocol, the counter says how often.
        logger.debug("HTTP/2 connection closed", metadata: ["reason": "\(error)"])
        close(context)
    }

    private func armIdle(_ context: ChannelHandlerContext) -> Scheduled<Void> {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        return context.eventLoop.scheduleTask(in: idleTimeout) {
            let (lifecycle, context) = loopBound.value
            lifecycle.goAway(context)
        }
    }

    private func goAway(_ context: ChannelHandlerContext) {
        guard case .open(let streams, let idle) = state else { return }
        idle?.cancel()
        state = .closing(streams: streams)
        let frame = HTTP2Frame(
            streamID: .rootStream,
            payload: .goAway(lastStreamID: lastStream, errorCode: .noError, opaqueData: nil)
        )
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        if streams == 0 { close(context) }
    }

    /// Closes once what is written is flushed: the last stream's end is told to HTTP/2 as it
    /// is written, before it has left, and a close in the same turn would drop it.
    private func close(_ context: ChannelHandlerContext) {
        if case .open(_, let idle) = state { idle?.cancel() }
        state = .closed
        context.flush()
        context.eventLoop.assumeIsolated().execute { context.close(promise: nil) }
    }
}
