import BatonCore
import BatonHTTP1
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Serves one client connection: routes each request by Host and hands it to an
/// `ExchangeDriver`, which relays it to a sandbox; the answer streams back here with
/// backpressure. Pipelined requests wait their turn.
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ClientPart
    typealias OutboundOut = ByteBuffer

    private let ingress: IngressContext
    private let loop: LoopServices
    private let headGuard: RequestHeadGuard
    private let scheme: RequestScheme
    private var context: ChannelHandlerContext?
    private var driver: ExchangeDriver?
    private(set) var clientAddress: String?
    private var clientReading = true
    /// Parts of requests that came in while another was in flight, in order.
    private var pipelined: [ClientPart] = []
    /// Whether the connection outlives the answers under way.
    private var continuation = Continuation.keepAlive

    private enum Continuation {
        case keepAlive
        /// The host hands over to the next one: every answer says `Connection: close` and ends
        /// its connection; an idle one ends after a grace.
        case quiescing
        /// The client sends no more (a FIN, or TLS's close_notify): the requests it sent are
        /// answered, then the connection ends; with none under way it ends at once.
        case clientDone
    }
    /// The response going out: how the proxy frames its body to the client, and whether the
    /// connection ends with it.
    private var response = ResponseWriting(body: .asSent, closesConnection: false)

    private struct ResponseWriting {
        var body: BodyWriting
        /// The head told the client `Connection: close`.
        var closesConnection: Bool
    }

    private enum BodyWriting {
        /// Written as the sandbox framed it (a length, or nothing).
        case asSent
        /// The sandbox's body has no length: the proxy chunks it, until its last chunk.
        case chunked
    }
    /// Where the client's current request is: the decoder hands over its end separately.
    private var reading = RequestReading.betweenRequests
    /// A 101 that came before the decoder handed over the request's end; the tunnel opens
    /// once it has, since nothing but raw bytes may follow the decoder then.
    private var pendingTunnel: (head: ResponseHead, minorVersion: Int, upstream: UpstreamConnection, lease: Lease)?

    private enum RequestReading {
        case betweenRequests
        case inRequest
    }
    /// How long an idle connection is kept once quiescing, so that a request a client is
    /// sending at that moment is answered rather than cut off.
    static let quiescingIdleGrace: TimeAmount = .seconds(5)

    init(ingress: IngressContext, loop: LoopServices, headGuard: RequestHeadGuard, scheme: RequestScheme) {
        self.ingress = ingress
        self.loop = loop
        self.headGuard = headGuard
        self.scheme = scheme
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clientAddress = context.channel.remoteAddress?.ipAddress
        driver = ExchangeDriver(ingress: ingress, eventLoop: context.eventLoop, loop: loop, sink: self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        // A pipelined request waits its turn; reading pauses so waiting ones stay few.
        if !pipelined.isEmpty || (driver?.exchange != nil && part.beginsRequest) {
            pipelined.append(part)
            setClientReading(false)
            return
        }
        handle(part)
    }

    private func handle(_ part: ClientPart) {
        switch part {
        case .head(let head, let framing):
            reading = .inRequest
            headGuard.headReceived()
            requestStarted(head, framing)
        case .body(let body):
            driver?.received(body)
        case .end:
            reading = .betweenRequests
            driver?.ended()
            if let (head, minorVersion, upstream, lease) = pendingTunnel {
                pendingTunnel = nil
                switchProtocols(head, minorVersion: minorVersion, to: upstream, lease: lease)
            }
        case .violation(let violation, _, let minorVersion):
            headGuard.headReceived()  // answered here, not by the head guard's timers
            refuseViolation(violation, minorVersion: minorVersion)
        }
    }

    /// Bytes that break the HTTP rules: a request in flight ends as the driver decides, else
    /// the client gets the status for the rule; either way the connection ends.
    private func refuseViolation(_ violation: HTTP1Violation, minorVersion: Int) {
        if let driver, driver.exchange != nil { return driver.clientViolated(violation) }
        let status = ResponseStatus(violation)
        let reason = violation.refusal
        ingress.logger.info("request", metadata: ["status": "\(status.code)", "reason": "\(reason)"])
        ingress.metrics.request(app: "-", status: "\(status.code)")
        refuse(status, reason, minorVersion: minorVersion, retryAfter: nil)
    }

    /// Starts the requests that arrived while the last one was being answered.
    private func resumePipelined() {
        while let next = pipelined.first {
            if case .head = next, driver?.exchange != nil { break }
            pipelined.removeFirst()
            handle(next)
        }
        if pipelined.isEmpty { setClientReading(true) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        driver?.flushUpstream()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        driver?.setUpstreamReading(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            if continuation == .keepAlive { continuation = .quiescing }
            closeIfStillIdle(context: context)
        case ChannelEvent.inputClosed:
            continuation = .clientDone
            if driver?.exchange == nil, pipelined.isEmpty, reading == .betweenRequests { context.close(promise: nil) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Closes the connection after the grace if no request came meanwhile.
    private func closeIfStillIdle(context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.quiescingIdleGrace) { [weak self] in
            guard let self, let context = self.context, self.driver?.exchange == nil, self.pipelined.isEmpty else {
                return
            }
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        driver?.abandon()
        if let (_, _, upstream, lease) = pendingTunnel {
            pendingTunnel = nil
            upstream.close()
            ingress.leases.checkin(lease, to: loop.leases)
        }
        context.fireChannelInactive()
    }

    private func requestStarted(_ head: RequestHead, _ framing: MessageFraming) {
        switch ingress.admit(head, framing: framing, scheme: scheme) {
        case .refused(let status, let message):
            refuse(status, message, minorVersion: head.minorVersion, retryAfter: nil)
        case .answered(let body):
            answer(.ok, body: body, minorVersion: head.minorVersion, retryAfter: nil)
        case .redirected(let location):
            redirect(to: location, minorVersion: head.minorVersion)
        case .admitted(let exchange, let wantsContinue):
            if wantsContinue, let context {
                context.writeAndFlush(
                    wrapOutboundOut(context.channel.allocator.buffer(string: HeadWriter.continueResponse)),
                    promise: nil
                )
            }
            driver?.start(exchange)
        }
    }

    private func setClientReading(_ on: Bool) {
        guard let context, clientReading != on else { return }
        clientReading = on
        context.channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
        if on { context.read() }
    }

    /// A random prefix for this process and a counter: unique without a syscall per request.
    private static let requestIDPrefix = String(UInt32.random(in: .min ... .max), radix: 16)
    private static let requestCounter = ManagedCounter()

    static func newRequestID() -> String {
        "\(requestIDPrefix)-\(String(requestCounter.next(), radix: 16))"
    }
}

extension ProxyHandler: ExchangeSink {
    /// The client gets the sandbox's head; a body without a length is chunked for an HTTP/1.1
    /// client, and ends the connection for an HTTP/1.0 one.
    func sendHead(_ head: ResponseHead, framing: MessageFraming, minorVersion: Int, keepAlive: Bool) {
        guard let context else { return }
        let unframed = framing == .chunked || framing == .untilClose
        response = ResponseWriting(
            body: unframed && minorVersion == 1 ? .chunked : .asSent,
            closesConnection: continuation == .quiescing || (continuation == .clientDone && pipelined.isEmpty)
                || !keepAlive || (unframed && minorVersion == 0)
        )
        var bytes = context.channel.allocator.buffer(capacity: head.fields.bytes.readableBytes + 64)
        HeadWriter.clientResponse(
            head,
            strictTransportSecurity: driver?.exchange?.checked.strictTransportSecurity,
            minorVersion: minorVersion,
            keepAlive: !response.closesConnection,
            chunked: response.body == .chunked,
            into: &bytes
        )
        context.write(wrapOutboundOut(bytes), promise: nil)
    }

    func sendBody(_ body: ByteBuffer) {
        guard let context, body.readableBytes > 0 else { return }
        guard response.body == .chunked else { return context.write(wrapOutboundOut(body), promise: nil) }
        context.write(
            wrapOutboundOut(ChunkFraming.header(for: body, allocator: context.channel.allocator)),
            promise: nil
        )
        context.write(wrapOutboundOut(body), promise: nil)
        context.write(wrapOutboundOut(ChunkFraming.dataEnd), promise: nil)
    }

    /// Whatever one read from the sandbox brought goes out in one write; an event stream's
    /// events each come in their own read, so none waits for the next.
    func flush() {
        context?.flush()
    }

    func sendEnd(keepAlive: Bool) {
        guard let context else { return }
        if response.body == .chunked {
            response.body = .asSent
            context.write(wrapOutboundOut(ChunkFraming.lastChunk), promise: nil)
        }
        context.flush()
        if keepAlive && !response.closesConnection {
            headGuard.requestFinished()
            resumePipelined()
            switch continuation {
            case .keepAlive: break
            case .quiescing:
                // Quiescing began after this answer's head had promised keep-alive: the client
                // may send again at once, so the connection ends with the next answer, or once idle.
                closeIfStillIdle(context: context)
            case .clientDone:
                // Requests the client sent before it stopped are answered; then the end.
                if driver?.exchange == nil, pipelined.isEmpty { context.close(promise: nil) }
            }
        } else {
            context.close(promise: nil)
        }
    }

    /// The request body may still be coming; the connection ends with this answer.
    func refuse(_ status: ResponseStatus, _ message: String, minorVersion: Int, retryAfter: Int?) {
        answer(status, body: message + "\n", minorVersion: minorVersion, retryAfter: retryAfter)
    }

    /// An answer of the ingress's own, then the connection closes.
    private func answer(_ status: ResponseStatus, body: String, minorVersion: Int, retryAfter: Int?) {
        guard let context else { return }
        let response = HeadWriter.plainText(
            status,
            body: body,
            minorVersion: minorVersion,
            retryAfter: retryAfter,
            allocator: context.channel.allocator
        )
        context.writeAndFlush(wrapOutboundOut(response)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func abort() {
        context?.close(promise: nil)
    }

    /// Sends the client elsewhere, with its method and body kept (308), and closes: a body
    /// it sent is not read.
    private func redirect(to location: String, minorVersion: Int) {
        guard let context else { return }
        let response = HeadWriter.redirect(
            to: location,
            minorVersion: minorVersion,
            allocator: context.channel.allocator
        )
        context.writeAndFlush(wrapOutboundOut(response)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// The sandbox answered 101: the client gets that answer, then the HTTP handlers leave
    /// and the two connections relay raw bytes, holding the lease slot until either closes.
    /// Bytes the client sent past the request head reach the tunnel: the codec forwards
    /// them to the half placed right behind it when it is removed.
    func switchProtocols(_ head: ResponseHead, minorVersion: Int, to upstream: UpstreamConnection, lease: Lease) {
        let cache = ingress.leases
        let shelf = loop.leases
        guard let context else {
            upstream.close()
            return cache.checkin(lease, to: shelf)
        }
        guard reading == .betweenRequests else {
            pendingTunnel = (head, minorVersion, upstream, lease)
            return
        }
        var bytes = context.channel.allocator.buffer(capacity: head.fields.bytes.readableBytes + 32)
        HeadWriter.clientResponse(head, minorVersion: minorVersion, keepAlive: true, chunked: false, into: &bytes)
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        let (clientHalf, sandboxHalf) = TunnelHalf.pair { cache.checkin(lease, to: shelf) }
        ingress.tunnels.add(lease: lease, client: context.channel)
        cache.markStream(lease)
        let pipeline = context.pipeline.syncOperations
        do {
            let codec = try pipeline.handler(type: ClientCodec.self)
            try pipeline.addHandler(clientHalf, position: .after(codec))
            try upstream.becomeTunnel(with: sandboxHalf)
            pipeline.removeHandler(headGuard, promise: nil)
            pipeline.removeHandler(self, promise: nil)
            pipeline.removeHandler(codec, promise: nil)
        } catch {
            ingress.logger.error("tunnel not opened", metadata: ["error": "\(error)"])
            upstream.close()
            context.close(promise: nil)
        }
    }

    func setReading(_ on: Bool) {
        setClientReading(on)
    }
}

/// A thread-safe counter.
final class ManagedCounter: Sendable {
    private let value = NIOLockedValueBox<UInt64>(0)

    func next() -> UInt64 {
        value.withLockedValue { value in
            value &+= 1
            return value
        }
    }
}
