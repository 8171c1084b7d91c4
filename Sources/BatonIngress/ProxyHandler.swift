import BatonCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Serves one client connection: routes each request by Host and hands it to an
/// `ExchangeDriver`, which relays it to a sandbox; the answer streams back here with
/// backpressure. Pipelined requests wait their turn.
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let ingress: IngressContext
    private let headGuard: RequestHeadGuard
    private var context: ChannelHandlerContext?
    private var driver: ExchangeDriver?
    private(set) var clientAddress: String?
    private var clientReading = true
    /// Parts of requests that came in while another was in flight, in order.
    private var pipelined: [HTTPServerRequestPart] = []
    /// Set when the host hands over to the next one: every answer says `Connection: close`
    /// and ends its connection.
    private var quiescing = false
    /// Whether the response going out told the client `Connection: close`.
    private var announcedClose = false
    /// Where the client's current request is: the decoder hands over its end separately.
    private var reading = RequestReading.betweenRequests
    /// A 101 that came before the decoder handed over the request's end; the tunnel opens
    /// once it has, since nothing but raw bytes may follow the decoder then.
    private var pendingTunnel: (head: HTTPResponseHead, upstream: UpstreamConnection, lease: Lease)?

    private enum RequestReading {
        case betweenRequests
        case inRequest
    }
    /// How long an idle connection is kept once quiescing, so that a request a client is
    /// sending at that moment is answered rather than cut off.
    static let quiescingIdleGrace: TimeAmount = .seconds(5)

    init(ingress: IngressContext, headGuard: RequestHeadGuard) {
        self.ingress = ingress
        self.headGuard = headGuard
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clientAddress = context.channel.remoteAddress?.ipAddress
        driver = ExchangeDriver(ingress: ingress, eventLoop: context.eventLoop, sink: self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        // A pipelined request waits its turn; reading pauses so waiting ones stay few.
        if !pipelined.isEmpty || (driver?.exchange != nil && part.isHead) {
            pipelined.append(part)
            setClientReading(false)
            return
        }
        handle(part)
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            reading = .inRequest
            headGuard.headReceived()
            requestStarted(head)
        case .body(let body):
            driver?.received(body)
        case .end:
            reading = .betweenRequests
            driver?.ended()
            if let (head, upstream, lease) = pendingTunnel {
                pendingTunnel = nil
                switchProtocols(head, to: upstream, lease: lease)
            }
        }
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
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        quiescing = true
        closeIfStillIdle(context: context)
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
        if let (_, upstream, lease) = pendingTunnel {
            pendingTunnel = nil
            upstream.close()
            ingress.leases.checkin(lease)
        }
        context.fireChannelInactive()
    }

    /// A malformed request has had its 400 from the protocol error handler; the
    /// connection cannot go on. (A declined upgrade also passes an error here: the request
    /// then arrives as an ordinary one, and the connection stays.)
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { context.close(promise: nil) }
    }

    private func requestStarted(_ head: HTTPRequestHead) {
        let checked: CheckedRequest
        switch RequestCheck.check(head) {
        case .success(let valid): checked = valid
        case .failure(let refusal):
            ingress.logger.info(
                "request",
                metadata: [
                    "status": "\(refusal.status.code)", "method": "\(head.method.rawValue)",
                    "reason": "\(refusal.reason)",
                ]
            )
            ingress.metrics.request(app: "-", status: "\(refusal.status.code)")
            return refuse(refusal.status, refusal.reason, version: head.version, retryAfter: nil)
        }
        let requestID = head.headers.first(name: "x-request-id") ?? Self.newRequestID()
        guard let app = ingress.routes.app(forHost: checked.authority) else {
            let message = "No app is routed for host \(checked.authority ?? "(none)")."
            ingress.logger.info(
                "request",
                metadata: [
                    "status": "404", "method": "\(head.method.rawValue)", "path": "\(head.uri)", "reason": "\(message)",
                ]
            )
            ingress.metrics.request(app: "-", status: "404")
            return refuse(.notFound, message, version: head.version, retryAfter: nil)
        }
        if head.headers.first(name: "expect")?.lowercased() == "100-continue", let context {
            // The body is wanted whatever sandbox takes it; the Expect header goes no further.
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                promise: nil
            )
        }
        let timeout = ingress.configuration.responseHeaderTimeout
        driver?.start(
            ProxyExchange(
                head: head,
                checked: checked,
                app: app,
                service: "web",
                requestID: requestID,
                replayLimit: ingress.configuration.replayBufferBytes,
                deadline: .nanoseconds(timeout.nanoseconds)
            )
        )
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
    func sendHead(_ head: HTTPResponseHead) {
        var head = head
        if quiescing { head.headers.replaceOrAdd(name: "Connection", value: "close") }
        announcedClose = quiescing
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    func sendBody(_ body: ByteBuffer) {
        context?.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
    }

    /// Whatever one read from the sandbox brought goes out in one write; an event stream's
    /// events each come in their own read, so none waits for the next.
    func flush() {
        context?.flush()
    }

    func sendEnd(keepAlive: Bool) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if keepAlive && !announcedClose {
            headGuard.requestFinished()
            resumePipelined()
            // Quiescing began after this answer's head had promised keep-alive: the client
            // may send again at once, so the connection ends with the next answer, or once idle.
            if quiescing { closeIfStillIdle(context: context) }
        } else {
            context.close(promise: nil)
        }
    }

    /// The request body may still be coming; the connection ends with this answer.
    func refuse(_ status: HTTPResponseStatus, _ message: String, version: HTTPVersion, retryAfter: Int?) {
        guard let context else { return }
        var headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")])
        let body = context.channel.allocator.buffer(string: message + "\n")
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        if let retryAfter { headers.add(name: "Retry-After", value: "\(retryAfter)") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))),
            promise: nil
        )
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func abort() {
        context?.close(promise: nil)
    }

    /// The sandbox answered 101: the client gets that answer, then the HTTP handlers leave
    /// and the two connections relay raw bytes, holding the lease slot until either closes.
    /// Bytes the client sent past the request head reach the tunnel: the decoder forwards
    /// them to the half placed right behind it when it is removed.
    func switchProtocols(_ head: HTTPResponseHead, to upstream: UpstreamConnection, lease: Lease) {
        let cache = ingress.leases
        guard let context else {
            upstream.close()
            return cache.checkin(lease)
        }
        guard reading == .betweenRequests else {
            pendingTunnel = (head, upstream, lease)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
        let (clientHalf, sandboxHalf) = TunnelHalf.pair { cache.checkin(lease) }
        ingress.tunnels.add(lease: lease, client: context.channel)
        cache.markStream(lease)
        let pipeline = context.pipeline.syncOperations
        do {
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(clientHalf, position: .after(decoder))
            try upstream.becomeTunnel(with: sandboxHalf)
            pipeline.removeHandler(headGuard, promise: nil)
            pipeline.removeHandler(try pipeline.handler(type: HTTPServerProtocolErrorHandler.self), promise: nil)
            pipeline.removeHandler(try pipeline.handler(type: HTTPResponseEncoder.self), promise: nil)
            pipeline.removeHandler(self, promise: nil)
            pipeline.removeHandler(decoder, promise: nil)
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

extension HTTPServerRequestPart {
    var isHead: Bool {
        if case .head = self { return true }
        return false
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
