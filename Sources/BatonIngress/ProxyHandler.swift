import BatonCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Serves one client connection: routes each request by Host, takes a lease slot, and
/// relays the request to a sandbox and the response back, streaming both ways with
/// backpressure. A failed try is retried only when that is safe: a connect failure always
/// (nothing reached the app), a connection lost before any response only for idempotent
/// requests whose body is still at hand, and never once the client has a response byte.
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let ingress: IngressContext
    private let headGuard: RequestHeadGuard
    private var context: ChannelHandlerContext?
    private var exchange: ProxyExchange?
    private var clientAddress: String?
    private var responseTimer: LoopTimers.Token?
    private var clientReading = true
    /// Parts of requests that came in while another was in flight, in order.
    private var pipelined: [HTTPServerRequestPart] = []

    init(ingress: IngressContext, headGuard: RequestHeadGuard) {
        self.ingress = ingress
        self.headGuard = headGuard
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clientAddress = context.channel.remoteAddress?.ipAddress
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        // A pipelined request waits its turn; reading pauses so waiting ones stay few.
        if !pipelined.isEmpty || (exchange != nil && part.isHead) {
            pipelined.append(part)
            setClientReading(false)
            return
        }
        handle(part)
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            headGuard.headReceived()
            requestStarted(head)
        case .body(let body):
            guard let exchange else { return }
            exchange.received(body)
            if exchange.bodyBytes > ingress.configuration.maxBodyBytes {
                return refuseTooLarge(exchange)
            }
            if let upstream = exchange.upstream, exchange.requestSent {
                upstream.write(.body(.byteBuffer(body)))
            } else {
                exchange.unsent.append(body)
                exchange.unsentBytes += body.readableBytes
                if exchange.unsentBytes > ingress.configuration.replayBufferBytes { setClientReading(false) }
            }
        case .end:
            guard let exchange else { return }
            exchange.requestEnded = true
            if let upstream = exchange.upstream, exchange.requestSent {
                upstream.write(.end(nil))
                upstream.flush()
            }
        }
    }

    /// Starts the requests that arrived while the last one was being answered.
    private func resumePipelined() {
        while let next = pipelined.first {
            if case .head = next, exchange != nil { break }
            pipelined.removeFirst()
            handle(next)
        }
        if pipelined.isEmpty { setClientReading(true) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        exchange?.upstream?.setReading(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let exchange { abandon(exchange) }
        context.fireChannelInactive()
    }

    /// A malformed request has had its 400 from the protocol error handler; the
    /// connection cannot go on. (A declined upgrade also passes an error here: the request
    /// then arrives as an ordinary one, and the connection stays.)
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { context.close(promise: nil) }
    }

    private func requestStarted(_ head: HTTPRequestHead) {
        let requestID = head.headers.first(name: "x-request-id") ?? Self.newRequestID()
        guard let app = ingress.routes.app(forHost: head.headers.first(name: "host")) else {
            let host = head.headers.first(name: "host") ?? "(none)"
            return respondWithError(.notFound, "No app is routed for host \(host).", head: head)
        }
        let timeout = ingress.configuration.responseHeaderTimeout
        let exchange = ProxyExchange(
            head: head, app: app, service: "web", requestID: requestID, replayLimit: ingress.configuration.replayBufferBytes,
            deadline: .nanoseconds(timeout.nanoseconds))
        self.exchange = exchange
        ingress.load.started(app)
        if let declared = head.headers.first(name: "content-length").flatMap(Int64.init), declared > ingress.configuration.maxBodyBytes {
            return refuseTooLarge(exchange)
        }
        if head.headers.first(name: "expect")?.lowercased() == "100-continue", let context {
            // The body is wanted whatever sandbox takes it; the Expect header goes no further.
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        takeLease(for: exchange)
    }

    private func refuseTooLarge(_ exchange: ProxyExchange) {
        guard !exchange.responseStarted else { return }
        respondWithError(
            .payloadTooLarge,
            "The request body for app \(exchange.app) is larger than \(ingress.configuration.maxBodyBytes) bytes (setting ingress.maxBodyBytes).",
            head: exchange.head)
    }

    // MARK: Leases and tries

    private func takeLease(for exchange: ProxyExchange) {
        if let lease = ingress.leases.checkoutCached(app: exchange.app, service: exchange.service, excluding: exchange.failedSandboxes) {
            return connect(exchange, lease)
        }
        guard let context else { return }
        let depth = ingress.configuration.holdQueueDepth
        guard ingress.load.startHolding(exchange.app, depth: depth) else {
            return respondWithError(
                .serviceUnavailable,
                "App \(exchange.app) already has \(depth) requests waiting for a sandbox (setting ingress.holdQueueDepth).",
                head: exchange.head, retryAfter: 1)
        }
        let loop = context.eventLoop
        let holdStarted = ContinuousClock.now
        let completion = NIOLoopBound({ [self] (result: Result<Lease, CoreError>) in
            ingress.load.stopHolding(exchange.app)
            ingress.metrics.held(app: exchange.app, for: .now - holdStarted)
            leaseArrived(result, for: exchange)
        }, eventLoop: loop)
        ingress.leases.checkoutNew(
            app: exchange.app, service: exchange.service, waitMs: ingress.configuration.holdTimeout.nanoseconds / 1_000_000,
            excluding: exchange.failedSandboxes, on: loop, then: completion)
    }

    private func leaseArrived(_ result: Result<Lease, CoreError>, for exchange: ProxyExchange) {
        guard self.exchange === exchange else {
            if case .success(let lease) = result { ingress.leases.checkin(lease) }
            return
        }
        switch result {
        case .success(let lease):
            connect(exchange, lease)
        case .failure where exchange.tries > 0:
            respondWithError(
                .badGateway,
                "App \(exchange.app) could not be reached: \(exchange.lastFailure ?? "its sandboxes failed"), and no other sandbox is ready.",
                head: exchange.head)
        case .failure(let error) where error.code == CoreError.unknownAppCode:
            respondWithError(.serviceUnavailable, "App \(exchange.app) has no version deployed.", head: exchange.head)
        case .failure:
            let held = ingress.configuration.holdTimeout.nanoseconds / 1_000_000_000
            respondWithError(
                .serviceUnavailable, "App \(exchange.app) has no ready sandbox; waited \(held) s (setting ingress.holdTimeoutMs).",
                head: exchange.head, retryAfter: 1)
        }
    }

    private func connect(_ exchange: ProxyExchange, _ lease: Lease) {
        guard let context, let endpoint = SandboxEndpoint(lease.url) else {
            ingress.leases.checkin(lease)
            return respondWithError(.badGateway, "App \(exchange.app) gave an unusable sandbox address.", head: exchange.head)
        }
        exchange.lease = lease
        exchange.servedBy = lease
        exchange.tries += 1
        ingress.metrics.upstreamAttempt(app: exchange.app)
        if exchange.holdEnded == nil { exchange.holdEnded = .now }
        exchange.connectStarted = .now
        let pool = ingress.upstreamPools.value(for: context.eventLoop)
        pool.connection(to: lease.url, host: endpoint.host, port: endpoint.port, timeout: ingress.configuration.connectTimeout) {
            [self] result in
            guard self.exchange === exchange else {
                if case .success(let connection) = result { connection.close() }
                return ingress.leases.checkin(lease)
            }
            switch result {
            case .success(let connection): attach(exchange, connection)
            case .failure(let error): connectFailed(exchange, lease, reason: "\(error)")
            }
        }
    }

    private func attach(_ exchange: ProxyExchange, _ connection: UpstreamConnection) {
        exchange.upstream = connection
        exchange.connected = .now
        connection.delegate = self
        let head = ProxyHeaders.upstreamRequest(exchange.head, clientAddress: clientAddress, requestID: exchange.requestID)
        connection.write(.head(head))
        let body = exchange.requestSent ? (exchange.replay ?? []) : exchange.unsent
        for part in body { connection.write(.body(.byteBuffer(part))) }
        exchange.unsent = []
        exchange.unsentBytes = 0
        exchange.requestSent = true
        if exchange.requestEnded { connection.write(.end(nil)) }
        connection.flush()
        setClientReading(true)
        armResponseTimer(exchange)
    }

    /// A sandbox that takes too long to start answering gets no retry: the request may be
    /// running there. The client gets 504 and the lease stays good.
    private func armResponseTimer(_ exchange: ProxyExchange) {
        guard let context else { return }
        let timers = ingress.timers.value(for: context.eventLoop)
        timers.cancel(responseTimer)
        let timeout = ingress.configuration.responseHeaderTimeout
        let remaining = exchange.deadline - ContinuousClock.now
        let wait = TimeAmount.nanoseconds(max(0, remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000))
        responseTimer = timers.schedule(in: wait) { [self] in
            guard self.exchange === exchange, !exchange.responseStarted else { return }
            respondWithError(
                .gatewayTimeout,
                "App \(exchange.app) did not start answering within \(timeout.nanoseconds / 1_000_000) ms (setting ingress.responseHeaderTimeoutMs).",
                head: exchange.head)
        }
    }

    /// Nothing reached the sandbox: take it out and try another, whatever the method.
    private func connectFailed(_ exchange: ProxyExchange, _ lease: Lease, reason: String) {
        exchange.lease = nil
        exchange.failedSandboxes.insert(lease.sandbox)
        ingress.leases.checkin(lease)
        guard let context else { return }
        let then = NIOLoopBound(
            { [self] in retry(exchange, after: "could not connect to a sandbox (\(reason))", kind: "connect_failed") },
            eventLoop: context.eventLoop)
        Self.spawnInvalidate(ingress.leases, lease, reason: "connect failed: \(reason)", on: context.eventLoop, then: then)
    }

    private static func spawnInvalidate(
        _ cache: LeaseCache, _ lease: Lease, reason: String, on loop: any EventLoop, then: NIOLoopBound<() -> Void>
    ) {
        Task {
            await cache.invalidate(lease, reason: reason)
            loop.execute { then.value() }
        }
    }

    private func retry(_ exchange: ProxyExchange, after failure: String, kind: String) {
        guard self.exchange === exchange, let context else { return }
        exchange.lastFailure = failure
        guard exchange.tries <= ingress.configuration.maxRetries else {
            ingress.metrics.retryNotMade(app: exchange.app, reason: "max_retries")
            return respondWithError(
                .badGateway, "App \(exchange.app) could not be reached after \(exchange.tries) tries (setting ingress.maxRetries): \(failure).",
                head: exchange.head)
        }
        guard ContinuousClock.now < exchange.deadline else {
            ingress.metrics.retryNotMade(app: exchange.app, reason: "deadline")
            return respondWithError(
                .gatewayTimeout, "App \(exchange.app) could not answer before the request's deadline: \(failure).", head: exchange.head)
        }
        if !exchange.retrying {
            guard ingress.load.startRetrying(exchange.app) else {
                ingress.metrics.retryNotMade(app: exchange.app, reason: "budget")
                return respondWithError(
                    .serviceUnavailable, "App \(exchange.app) is over its retry budget, so this request was not retried: \(failure).",
                    head: exchange.head, retryAfter: 1)
            }
            exchange.retrying = true
        }
        ingress.metrics.retry(app: exchange.app, reason: kind)
        let jitter = TimeAmount.milliseconds(Int64.random(in: 0...25))
        context.eventLoop.assumeIsolated().scheduleTask(in: jitter) { [self] in
            guard self.exchange === exchange else { return }
            takeLease(for: exchange)
        }
    }

    // MARK: Finishing

    private func finish(_ exchange: ProxyExchange, reuseUpstream: Bool) {
        guard !exchange.finished else { return }
        exchange.finished = true
        cancelResponseTimer()
        logAccess(exchange)
        ingress.load.finished(exchange.app, wasRetrying: exchange.retrying)
        if let lease = exchange.lease { ingress.leases.checkin(lease) }
        exchange.lease = nil
        if let upstream = exchange.upstream, let context {
            if reuseUpstream && exchange.requestEnded {
                ingress.upstreamPools.value(for: context.eventLoop).recycle(upstream)
            } else {
                upstream.close()
            }
        }
        exchange.upstream = nil
        if self.exchange === exchange { self.exchange = nil }
        setClientReading(true)
    }

    private func abandon(_ exchange: ProxyExchange) {
        finish(exchange, reuseUpstream: false)
    }

    private func respondWithError(
        _ status: HTTPResponseStatus, _ message: String, head: HTTPRequestHead, retryAfter: Int? = nil
    ) {
        guard let context else { return }
        if let exchange {
            exchange.status = status.code
            finish(exchange, reuseUpstream: false)
        } else {
            ingress.logger.info(
                "request", metadata: ["status": "\(status.code)", "method": "\(head.method.rawValue)", "path": "\(head.uri)", "reason": "\(message)"])
        }
        // The request body may still be coming; the connection ends with this answer.
        var headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")])
        let body = context.channel.allocator.buffer(string: message + "\n")
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        if let retryAfter { headers.add(name: "Retry-After", value: "\(retryAfter)") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func cancelResponseTimer() {
        guard let context, let token = responseTimer else { return }
        ingress.timers.value(for: context.eventLoop).cancel(token)
        responseTimer = nil
    }

    /// One line per request: who served it, how it ended, and where the time went.
    private func logAccess(_ exchange: ProxyExchange) {
        let end = ContinuousClock.now
        ingress.metrics.request(app: exchange.app, status: exchange.status.map(String.init) ?? "aborted")
        func ms(_ from: ContinuousClock.Instant?, _ to: ContinuousClock.Instant?) -> String {
            guard let from, let to else { return "-" }
            let elapsed = to - from
            return "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)"
        }
        ingress.logger.info(
            "request",
            metadata: [
                "app": "\(exchange.app)", "version": "\(exchange.servedBy?.version ?? "-")",
                "sandbox": "\(exchange.servedBy?.sandbox ?? "-")", "status": "\(exchange.status.map(String.init) ?? "aborted")",
                "method": "\(exchange.head.method.rawValue)", "path": "\(exchange.head.uri)", "id": "\(exchange.requestID)",
                "tries": "\(exchange.tries)", "holdMs": "\(ms(exchange.started, exchange.holdEnded))",
                "connectMs": "\(ms(exchange.connectStarted, exchange.connected))", "totalMs": "\(ms(exchange.started, end))",
            ])
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

    private static func newRequestID() -> String {
        "\(requestIDPrefix)-\(String(requestCounter.next(), radix: 16))"
    }
}

extension ProxyHandler: UpstreamDelegate {
    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard let exchange, let context else { return }
        exchange.responseStarted = true
        exchange.status = head.status.code
        cancelResponseTimer()
        let response = ProxyHeaders.clientResponse(head, clientVersion: exchange.head.version, keepAlive: exchange.keepAlive)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
    }

    /// Whatever one read from the sandbox brought goes out in one write; an event stream's
    /// events each come in their own read, so none waits for the next.
    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamResponseEnd() {
        guard let exchange, let context else { return }
        let keepAlive = exchange.keepAlive
        finish(exchange, reuseUpstream: true)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if keepAlive {
            headGuard.requestFinished()
            resumePipelined()
        } else {
            context.close(promise: nil)
        }
    }

    func upstreamFailed(_ reason: String) {
        guard let exchange, let context else { return }
        exchange.upstream = nil
        if exchange.responseStarted {
            // The client has part of a response: it must not take it for the whole.
            ingress.logger.warning("response cut off", metadata: ["app": "\(exchange.app)", "reason": "\(reason)"])
            finish(exchange, reuseUpstream: false)
            context.close(promise: nil)
            return
        }
        if let lease = exchange.lease {
            exchange.failedSandboxes.insert(lease.sandbox)
            ingress.leases.checkin(lease)
            exchange.lease = nil
        }
        let (retryable, why) = exchange.retryableAfterSend
        guard retryable else {
            ingress.metrics.retryNotMade(app: exchange.app, reason: why.contains("replay buffer") ? "body_too_large" : "not_idempotent")
            return respondWithError(
                .badGateway, "App \(exchange.app) closed the connection before answering, and the request was not retried: \(why).",
                head: exchange.head)
        }
        retry(exchange, after: reason, kind: "lost_before_response")
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        setClientReading(writable)
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
