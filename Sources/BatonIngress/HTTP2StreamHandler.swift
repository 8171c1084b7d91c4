import BatonCore
import BatonHTTP1
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One HTTP/2 stream: one request, carried by the same exchange driver and lifecycle as a
/// request on an HTTP/1.1 connection (leases, retries, holds, limits, the access log), its
/// head read by the same parser and checks. The answer goes back as HEADERS and DATA
/// frames; the sandbox still speaks HTTP/1.1.
final class HTTP2StreamHandler: ChannelInboundHandler, ExchangeSink {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum RequestSide {
        case awaitingHeaders
        case receivingBody
        /// END_STREAM came, or the stream was answered before the request was read.
        case ended
    }

    private enum ResponseSide {
        case notStarted
        case sending
        case ended
    }

    private let ingress: IngressContext
    private let loop: LoopServices
    private var context: ChannelHandlerContext?
    private var driver: ExchangeDriver?
    private var request = RequestSide.awaitingHeaders
    private var response = ResponseSide.notStarted
    private(set) var clientAddress: String?

    init(ingress: IngressContext, loop: LoopServices) {
        self.ingress = ingress
        self.loop = loop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clientAddress = context.channel.parent?.remoteAddress?.ipAddress
        driver = ExchangeDriver(ingress: ingress, eventLoop: context.eventLoop, loop: loop, sink: self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A reset stream, or its connection gone: whatever the exchange holds is let go.
        if response != .ended { driver?.abandon() }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), request) {
        case (.headers(let headers), .awaitingHeaders):
            request = headers.endStream ? .ended : .receivingBody
            started(headers.headers, endStream: headers.endStream)
        case (.data(let data), .receivingBody):
            if case .byteBuffer(let body) = data.data, body.readableBytes > 0 { driver?.received(body) }
            if data.endStream { ended() }
        case (.headers(let trailers), .receivingBody) where trailers.endStream:
            ended()  // trailers are not forwarded: the sandbox gets a body with a length or chunked
        default:
            break  // a reset, or frames for a request already answered
        }
    }

    /// The connection is quiescing: this stream is let finish (HTTP/2's GOAWAY says so to the
    /// client), so the event stops here rather than close it at the pipeline's end.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        driver?.flushUpstream()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        driver?.setUpstreamReading(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    private func ended() {
        request = .ended
        driver?.ended()
    }

    /// HTTP/2's pseudo-headers become the request line and Host; the cookie, which HTTP/2
    /// may split, is one field again (RFC 9113 §8.2.3); a body without a length is chunked.
    private func started(_ headers: HPACKHeaders, endStream: Bool) {
        let method = headers.first(name: ":method") ?? ""
        guard method != "CONNECT" else {
            return refuse(.notImplemented, "CONNECT is not served over HTTP/2.", minorVersion: 1, retryAfter: nil)
        }
        var fields: [(name: String, value: String)] = []
        if let authority = headers.first(name: ":authority") { fields.append(("host", authority)) }
        var cookies: [String] = []
        for (name, value, _) in headers where !name.hasPrefix(":") {
            switch name {
            case "cookie": cookies.append(value)
            case "host" where headers.first(name: ":authority") != nil: continue  // :authority wins (§8.3.1)
            default: fields.append((name, value))
            }
        }
        if !cookies.isEmpty { fields.append(("cookie", cookies.joined(separator: "; "))) }
        if !endStream, headers.first(name: "content-length") == nil { fields.append(("transfer-encoding", "chunked")) }
        switch RequestRewriting.head(
            method: method,
            target: headers.first(name: ":path") ?? "",
            fields: fields,
            limits: ingress.configuration.headLimits
        ) {
        case .failure(let violation):
            ingress.logger.info(
                "request",
                metadata: ["status": "\(violation.status)", "reason": "\(violation.refusal)"]
            )
            ingress.metrics.request(app: "-", status: "\(violation.status)")
            refuse(ResponseStatus(violation), violation.refusal, minorVersion: 1, retryAfter: nil)
        case .success(let (head, framing)):
            switch ingress.admit(head, framing: framing, scheme: .https) {
            case .refused(let status, let message): refuse(status, message, minorVersion: 1, retryAfter: nil)
            case .answered(let body): answer(.ok, body: body, retryAfter: nil)
            case .redirected(let location):
                writeHeaders([(":status", "308"), ("location", location)], endStream: true)
            case .admitted(let exchange, let wantsContinue):
                if wantsContinue { writeHeaders([(":status", "100")], endStream: false) }
                driver?.start(exchange)
                if endStream { driver?.ended() }
            }
        }
    }

    private func writeHeaders(_ fields: [(String, String)], endStream: Bool) {
        guard let context else { return }
        if endStream { response = .ended }
        let frame = HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders(fields), endStream: endStream))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    // MARK: ExchangeSink

    func sendHead(_ head: ResponseHead, framing: MessageFraming, minorVersion: Int, keepAlive: Bool) {
        guard let context, response == .notStarted else { return }
        response = .sending
        let fields = HeadWriter.clientResponseFields(
            head,
            strictTransportSecurity: driver?.exchange?.checked.strictTransportSecurity
        )
        let headers = HPACKHeaders([(":status", "\(head.status)")] + fields)
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
    }

    func sendBody(_ body: ByteBuffer) {
        guard let context, response == .sending, body.readableBytes > 0 else { return }
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(body)))), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func sendEnd(keepAlive: Bool) {
        guard let context, response == .sending else { return }
        response = .ended
        let end = HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))
        context.writeAndFlush(wrapOutboundOut(end), promise: nil)
    }

    func refuse(_ status: ResponseStatus, _ message: String, minorVersion: Int, retryAfter: Int?) {
        answer(status, body: message + "\n", retryAfter: retryAfter)
    }

    /// An answer of the ingress's own, `text` as it is.
    private func answer(_ status: ResponseStatus, body text: String, retryAfter: Int?) {
        guard let context, response == .notStarted else { return abort() }
        response = .ended
        let body = context.channel.allocator.buffer(string: text)
        var fields = [
            (":status", "\(status.code)"), ("content-type", "text/plain; charset=utf-8"),
            ("content-length", "\(body.readableBytes)"),
        ]
        if let retryAfter { fields.append(("retry-after", "\(retryAfter)")) }
        context.write(wrapOutboundOut(.headers(.init(headers: HPACKHeaders(fields)))), promise: nil)
        let answered = context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: true))))
        guard request != .ended else { return }
        // A body still coming is not wanted: once the answer is out, the client is told to stop
        // sending it (RFC 9113 §8.1).
        answered.assumeIsolated().whenSuccess {
            context.writeAndFlush(self.wrapOutboundOut(.rstStream(.noError)), promise: nil)
        }
    }

    /// The answer was cut off: the stream is reset, so the client cannot take it for whole.
    func abort() {
        guard let context else { return }
        response = .ended
        context.writeAndFlush(wrapOutboundOut(.rstStream(.internalError)), promise: nil)
        context.close(promise: nil)
    }

    func setReading(_ on: Bool) {
        // Not reading holds back WINDOW_UPDATE: HTTP/2's flow control then stops the client.
        context?.channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
        if on { context?.read() }
    }

    /// HTTP/2 has no Upgrade (RFC 9113 §8.6): a 101 cannot be asked for, so none is taken.
    func switchProtocols(_ head: ResponseHead, minorVersion: Int, to upstream: UpstreamConnection, lease: Lease) {
        upstream.close()
        ingress.leases.checkin(lease, to: loop.leases)
        abort()
    }
}
