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
        /// Between requests; `headBytes` counts the next head so far, `tail` holds the last
        /// bytes seen to find `\r\n\r\n` across reads.
        case awaitingHead(headBytes: Int, tail: [UInt8])
        /// The head is complete in the bytes; the proxy has the request.
        case inRequest
    }

    private let configuration: IngressConfiguration
    private var state = State.awaitingHead(headBytes: 0, tail: [])
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private var refused = false

    init(configuration: IngressConfiguration) {
        self.configuration = configuration
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armIdleTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if case .awaitingHead(let headBytes, let tail) = state {
            inspect(buffer, headBytes: headBytes, tail: tail)
        }
        guard !refused else { return }
        context.fireChannelRead(data)
    }

    /// The proxy has a request head (it may have come pipelined, unseen here).
    func headReceived() {
        timer?.cancel()
        timer = nil
        state = .inRequest
    }

    /// The proxy finished a response; the connection waits for the next request.
    func requestFinished() {
        state = .awaitingHead(headBytes: 0, tail: [])
        armIdleTimer()
    }

    private func inspect(_ buffer: ByteBuffer, headBytes: Int, tail: [UInt8]) {
        if headBytes == 0, buffer.readableBytes > 0 { armHeaderTimer() }
        let window = tail + buffer.readableBytesView
        let terminator: [UInt8] = [13, 10, 13, 10]
        if let end = window.firstRange(of: terminator) {
            let consumed = headBytes + end.upperBound - tail.count
            guard consumed <= configuration.maxHeaderBytes else { return refuse431() }
            timer?.cancel()
            timer = nil
            state = .inRequest
            return
        }
        let total = headBytes + buffer.readableBytes
        guard total <= configuration.maxHeaderBytes else { return refuse431() }
        state = .awaitingHead(headBytes: total, tail: Array(window.suffix(3)))
    }

    private func armIdleTimer() {
        guard let context else { return }
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.idleTimeout) { [self] in
            self.context?.close(promise: nil)
        }
    }

    private func armHeaderTimer() {
        guard let context else { return }
        timer?.cancel()
        let timeout = configuration.headerTimeout
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            refuse(
                "408 Request Timeout",
                "No complete request head within \(timeout.nanoseconds / 1_000_000) ms (setting ingress.headerTimeoutMs).")
        }
    }

    private func refuse431() {
        refuse(
            "431 Request Header Fields Too Large",
            "The request head is larger than \(configuration.maxHeaderBytes) bytes (setting ingress.maxHeaderBytes).")
    }

    /// Answers below the HTTP encoder, in raw bytes, and closes: the decoder may be
    /// mid-request, so nothing else can answer.
    private func refuse(_ status: String, _ message: String) {
        guard let context, !refused else { return }
        refused = true
        timer?.cancel()
        state = .inRequest
        let body = message + "\n"
        let response = "HTTP/1.1 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
