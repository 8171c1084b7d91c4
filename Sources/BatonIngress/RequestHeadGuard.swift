import NIOCore

/// Sits in front of the HTTP decoder and protects the proxy from clients that are slow or
/// greedy with request heads: a head not complete within `headerTimeout` of its first byte
/// gets 408, one larger than `maxHeaderBytes` gets 431, and a keep-alive connection idle
/// for `idleTimeout` is closed. Each only closes its own connection.
final class RequestHeadGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// Between requests; `headBytes` counts the next head so far, `matched` how much of
        /// `\r\n\r\n` the bytes so far end with.
        case awaitingHead(headBytes: Int, matched: Int)
        /// The head is complete in the bytes; the proxy has the request.
        case inRequest
    }

    private let configuration: IngressConfiguration
    private var state = State.awaitingHead(headBytes: 0, matched: 0)
    private var timer: LoopTimers.Token?
    private var timers: LoopTimers?
    private var context: ChannelHandlerContext?
    private var refused = false

    private let timerSets: PerEventLoop<LoopTimers>

    init(configuration: IngressConfiguration, timers: PerEventLoop<LoopTimers>) {
        self.configuration = configuration
        self.timerSets = timers
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        timers = timerSets.value(for: context.eventLoop)
        armIdleTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timers?.cancel(timer)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if case .awaitingHead(let headBytes, let matched) = state {
            inspect(buffer, headBytes: headBytes, matched: matched)
        }
        guard !refused else { return }
        context.fireChannelRead(data)
    }

    /// The proxy has a request head (it may have come pipelined, unseen here).
    func headReceived() {
        timers?.cancel(timer)
        timer = nil
        state = .inRequest
    }

    /// The proxy finished a response; the connection waits for the next request.
    func requestFinished() {
        state = .awaitingHead(headBytes: 0, matched: 0)
        armIdleTimer()
    }

    private func inspect(_ buffer: ByteBuffer, headBytes: Int, matched: Int) {
        if headBytes == 0, buffer.readableBytes > 0 { armHeaderTimer() }
        var matched = matched
        let end: Int? = buffer.withUnsafeReadableBytes { bytes in
            for (offset, byte) in bytes.enumerated() {
                if byte == (matched % 2 == 0 ? 13 : 10) {
                    matched += 1
                    if matched == 4 { return offset + 1 }
                } else {
                    matched = byte == 13 ? 1 : 0
                }
            }
            return nil
        }
        guard let end else {
            let total = headBytes + buffer.readableBytes
            guard total <= configuration.maxHeaderBytes else { return refuse431() }
            state = .awaitingHead(headBytes: total, matched: matched)
            return
        }
        guard headBytes + end <= configuration.maxHeaderBytes else { return refuse431() }
        timers?.cancel(timer)
        timer = nil
        state = .inRequest
    }

    private func armIdleTimer() {
        guard context != nil else { return }
        timers?.cancel(timer)
        timer = timers?.schedule(in: configuration.idleTimeout) { [self] in
            self.context?.close(promise: nil)
        }
    }

    private func armHeaderTimer() {
        guard context != nil else { return }
        timers?.cancel(timer)
        let timeout = configuration.headerTimeout
        timer = timers?.schedule(in: timeout) { [self] in
            refuse(
                "408 Request Timeout",
                "No complete request head within \(timeout.nanoseconds / 1_000_000) ms (setting ingress.headerTimeoutMs)."
            )
        }
    }

    private func refuse431() {
        refuse(
            "431 Request Header Fields Too Large",
            "The request head is larger than \(configuration.maxHeaderBytes) bytes (setting ingress.maxHeaderBytes)."
        )
    }

    /// Answers below the HTTP encoder, in raw bytes, and closes: the decoder may be
    /// mid-request, so nothing else can answer.
    private func refuse(_ status: String, _ message: String) {
        guard let context, !refused else { return }
        refused = true
        timers?.cancel(timer)
        state = .inRequest
        let body = message + "\n"
        let response =
            "HTTP/1.1 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response))).assumeIsolated()
            .whenComplete { _ in
                context.close(promise: nil)
            }
    }
}
