import NIOCore

/// Sits in front of the HTTP codec and protects the proxy from clients that are slow with
/// request heads: a head not complete within `headerTimeout` of its first byte gets 408, and a
/// keep-alive connection idle for `idleTimeout` is closed. Each only closes its own connection.
/// (The codec holds heads to `maxHeaderBytes`.)
final class RequestHeadGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// Between requests, with the idle timer armed.
        case idle
        /// The next head has begun, with the header timer armed.
        case awaitingHead
        /// The proxy has the request.
        case inRequest
        /// Answered 408; nothing more is read.
        case refused
    }

    private let configuration: IngressConfiguration
    private var state = State.idle
    private var timer: LoopTimers.Token?
    private let timers: LoopTimers
    private var context: ChannelHandlerContext?

    init(configuration: IngressConfiguration, timers: LoopTimers) {
        self.configuration = configuration
        self.timers = timers
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armIdleTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timers.cancel(timer)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .refused: return
        case .idle:
            state = .awaitingHead
            armHeaderTimer()
        case .awaitingHead, .inRequest: break
        }
        context.fireChannelRead(data)
    }

    /// The proxy has a request head (it may have come pipelined, unseen here).
    func headReceived() {
        guard state != .refused else { return }
        timers.cancel(timer)
        timer = nil
        state = .inRequest
    }

    /// The proxy finished a response; the connection waits for the next request.
    func requestFinished() {
        guard state != .refused else { return }
        state = .idle
        armIdleTimer()
    }

    private func armIdleTimer() {
        guard context != nil else { return }
        timers.cancel(timer)
        timer = timers.schedule(in: configuration.idleTimeout) { [self] in
            self.context?.close(promise: nil)
        }
    }

    private func armHeaderTimer() {
        guard context != nil else { return }
        timers.cancel(timer)
        let timeout = configuration.headerTimeout
        timer = timers.schedule(in: timeout) { [self] in
            refuse(
                "408 Request Timeout",
                "No complete request head within \(timeout.nanoseconds / 1_000_000) ms (setting ingress.headerTimeoutMs)."
            )
        }
    }

    /// Answers below the codec, in raw bytes, and closes: the codec may be mid-request, so
    /// nothing else can answer.
    private func refuse(_ status: String, _ message: String) {
        guard let context, state != .refused else { return }
        state = .refused
        timers.cancel(timer)
        let body = message + "\n"
        let response =
            "HTTP/1.1 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response))).assumeIsolated()
            .whenComplete { _ in
                context.close(promise: nil)
            }
    }
}
