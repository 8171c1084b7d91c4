import BatonCore
import BatonHTTP1
import Logging
import NIOCore

/// Where an exchange's answer goes: a client connection, or a caller inside the host.
protocol ExchangeSink: AnyObject {
    var clientAddress: String? { get }
    /// The sandbox's response head; its body, if any, follows as `framing` says, decoded.
    func sendHead(_ head: ResponseHead, framing: MessageFraming, minorVersion: Int, keepAlive: Bool)
    func sendBody(_ body: ByteBuffer)
    func flush()
    /// The response is complete; with `keepAlive` the next request may follow.
    func sendEnd(keepAlive: Bool)
    /// Answers with a plain-text error sentence instead of a sandbox's response.
    func refuse(_ status: ResponseStatus, _ message: String, minorVersion: Int, retryAfter: Int?)
    /// The response was cut off after it started: the receiver must not take it for whole.
    func abort()
    func setReading(_ on: Bool)
    /// The sandbox switched protocols: the sink now owns the connection and the lease.
    func switchProtocols(_ head: ResponseHead, minorVersion: Int, to upstream: UpstreamConnection, lease: Lease)
}

/// Carries one request at a time to a sandbox and its answer back to a sink: it takes a
/// lease slot, connects, sends, and retries only when that is safe: a connect failure
/// always (nothing reached the app), a connection lost before any response only for
/// idempotent requests whose body is still at hand, and never once the sink has a
/// response byte. It runs on one event loop, the sink's.
final class ExchangeDriver {
    private let ingress: IngressContext
    private let eventLoop: any EventLoop
    private weak var sink: (any ExchangeSink)?
    private(set) var exchange: ProxyExchange?
    private var responseTimer: LoopTimers.Token?

    init(ingress: IngressContext, eventLoop: any EventLoop, sink: any ExchangeSink) {
        self.ingress = ingress
        self.eventLoop = eventLoop
        self.sink = sink
    }

    /// Starts carrying `exchange`; its body follows through `received` and `ended`.
    func start(_ exchange: ProxyExchange) {
        self.exchange = exchange
        ingress.load.started(exchange.app)
        if case .length(let declared) = exchange.checked.framing, declared > ingress.configuration.maxBodyBytes {
            return refuseTooLarge(exchange)
        }
        takeLease(for: exchange)
    }

    func received(_ body: ByteBuffer) {
        guard let exchange else { return }
        exchange.received(body)
        if exchange.bodyBytes > ingress.configuration.maxBodyBytes {
            return refuseTooLarge(exchange)
        }
        if let upstream = exchange.upstream, exchange.requestSent {
            writeBody(body, of: exchange, to: upstream)
        } else {
            exchange.unsent.append(body)
            exchange.unsentBytes += body.readableBytes
            if exchange.unsentBytes > ingress.configuration.replayBufferBytes { setClientReading(false) }
        }
    }

    func ended() {
        guard let exchange else { return }
        exchange.requestEnded = true
        if let upstream = exchange.upstream, exchange.requestSent {
            writeEnd(of: exchange, to: upstream)
            upstream.flush()
        }
    }

    /// A body part framed for the sandbox: as it is for a length, as one chunk for chunked.
    private func writeBody(_ body: ByteBuffer, of exchange: ProxyExchange, to upstream: UpstreamConnection) {
        guard exchange.checked.framing == .chunked else { return upstream.write(body) }
        guard body.readableBytes > 0 else { return }
        upstream.write(ChunkFraming.header(for: body, allocator: upstream.channel.allocator))
        upstream.write(body)
        upstream.write(ChunkFraming.dataEnd)
    }

    private func writeEnd(of exchange: ProxyExchange, to upstream: UpstreamConnection) {
        if exchange.checked.framing == .chunked { upstream.write(ChunkFraming.lastChunk) }
    }

    /// Flushes what the client side sent in one read.
    func flushUpstream() {
        exchange?.upstream?.flush()
    }

    func setUpstreamReading(_ on: Bool) {
        exchange?.upstream?.setReading(on)
    }

    /// The sink went away: let go of everything the exchange held.
    func abandon() {
        if let exchange { finish(exchange, reuseUpstream: false) }
    }

    private func refuseTooLarge(_ exchange: ProxyExchange) {
        guard !exchange.responseStarted else { return }
        respondWithError(
            .contentTooLarge,
            "The request body for app \(exchange.app) is larger than \(ingress.configuration.maxBodyBytes) bytes (setting ingress.maxBodyBytes).",
            for: exchange
        )
    }

    // MARK: Leases and tries

    private func takeLease(for exchange: ProxyExchange) {
        if let lease = ingress.leases.checkoutCached(
            app: exchange.app,
            service: exchange.service,
            excluding: exchange.failedSandboxes
        ) {
            return connect(exchange, lease)
        }
        let depth = ingress.configuration.holdQueueDepth
        guard ingress.load.startHolding(exchange.app, depth: depth) else {
            return respondWithError(
                .serviceUnavailable,
                "App \(exchange.app) already has \(depth) requests waiting for a sandbox (setting ingress.holdQueueDepth).",
                for: exchange,
                retryAfter: 1
            )
        }
        let loop = eventLoop
        let holdStarted = ContinuousClock.now
        let completion = NIOLoopBound(
            { [self] (result: Result<Lease, CoreError>) in
                ingress.load.stopHolding(exchange.app)
                ingress.metrics.held(app: exchange.app, for: .now - holdStarted)
                leaseArrived(result, for: exchange)
            },
            eventLoop: loop
        )
        ingress.leases.checkoutNew(
            app: exchange.app,
            service: exchange.service,
            wait: .nanoseconds(ingress.configuration.holdTimeout.nanoseconds),
            excluding: exchange.failedSandboxes,
            on: loop,
            then: completion
        )
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
                for: exchange
            )
        case .failure(let error) where error.code == .unknownApp:
            respondWithError(.serviceUnavailable, "App \(exchange.app) has no version deployed.", for: exchange)
        case .failure(let error):
            let held = ingress.configuration.holdTimeout.nanoseconds / 1_000_000_000
            respondWithError(
                .serviceUnavailable,
                "\(error.message); waited \(held) s (setting ingress.holdTimeoutMs).",
                for: exchange,
                retryAfter: 1
            )
        }
    }

    private func connect(_ exchange: ProxyExchange, _ lease: Lease) {
        exchange.lease = lease
        exchange.servedBy = lease
        exchange.tries += 1
        ingress.metrics.upstreamAttempt(app: exchange.app)
        if exchange.holdEnded == nil { exchange.holdEnded = .now }
        exchange.connectStarted = .now
        let pool = ingress.upstreamPools.value(for: eventLoop)
        let idleAtMost =
            exchange.needsFreshConnection
            ? .zero : exchange.isIdempotent ? nil : ingress.configuration.upstreamSafeReuse
        pool.connection(to: lease.url, timeout: ingress.configuration.connectTimeout, idleAtMost: idleAtMost) {
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
        var head = connection.channel.allocator.buffer(capacity: exchange.head.fields.bytes.readableBytes + 256)
        HeadWriter.upstreamRequest(exchange, clientAddress: sink?.clientAddress, into: &head)
        connection.sendHead(head, answeringHead: exchange.isHeadRequest)
        let body = exchange.requestSent ? (exchange.replay ?? []) : exchange.unsent
        for part in body { writeBody(part, of: exchange, to: connection) }
        exchange.unsent = []
        exchange.unsentBytes = 0
        exchange.requestSent = true
        if exchange.requestEnded { writeEnd(of: exchange, to: connection) }
        connection.flush()
        setClientReading(true)
        armResponseTimer(exchange)
    }

    /// A sandbox that takes too long to start answering gets no retry: the request may be
    /// running there. The client gets 504 and the lease stays good.
    private func armResponseTimer(_ exchange: ProxyExchange) {
        let timers = ingress.timers.value(for: eventLoop)
        timers.cancel(responseTimer)
        let timeout = ingress.configuration.responseHeaderTimeout
        let remaining = exchange.deadline - ContinuousClock.now
        let wait = TimeAmount.nanoseconds(
            max(0, remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000)
        )
        responseTimer = timers.schedule(in: wait) { [self] in
            guard self.exchange === exchange, !exchange.responseStarted else { return }
            let answer = NIOLoopBound(
                { [self] in
                    guard self.exchange === exchange, !exchange.responseStarted else { return }
                    respondWithError(
                        .gatewayTimeout,
                        "App \(exchange.app) did not start answering within \(timeout.nanoseconds / 1_000_000) ms (setting ingress.responseHeaderTimeoutMs).",
                        for: exchange
                    )
                },
                eventLoop: eventLoop
            )
            guard let lease = exchange.lease, ingress.leases.responseTimedOut(lease) else { return answer.value() }
            // A sandbox that lets requests time out again and again is stuck (stopped,
            // deadlocked): like one that refuses connections, it gets no more until it passes
            // the host's check again. It is out before the client hears of the timeout.
            Self.spawnInvalidate(
                ingress.leases,
                lease,
                reason: "\(LeaseCache.timeoutsBeforeSuspect) response timeouts in a row",
                on: eventLoop,
                then: answer
            )
        }
    }

    /// Nothing reached the sandbox: take it out and try another, whatever the method.
    private func connectFailed(_ exchange: ProxyExchange, _ lease: Lease, reason: String) {
        exchange.lease = nil
        exchange.failedSandboxes.insert(lease.sandbox)
        ingress.leases.checkin(lease)
        let then = NIOLoopBound(
            { [self] in retry(exchange, after: "could not connect to a sandbox (\(reason))", kind: "connect_failed") },
            eventLoop: eventLoop
        )
        Self.spawnInvalidate(ingress.leases, lease, reason: "connect failed: \(reason)", on: eventLoop, then: then)
    }

    private static func spawnInvalidate(
        _ cache: LeaseCache,
        _ lease: Lease,
        reason: String,
        on loop: any EventLoop,
        then: NIOLoopBound<() -> Void>
    ) {
        // From the event loop to the cache's actor calls; `then` brings the answer back to the loop.
        Task {
            await cache.invalidate(lease, reason: reason)
            loop.execute { then.value() }
        }
    }

    private func retry(_ exchange: ProxyExchange, after failure: String, kind: String) {
        guard self.exchange === exchange else { return }
        exchange.lastFailure = failure
        guard exchange.tries <= ingress.configuration.maxRetries else {
            ingress.metrics.retryNotMade(app: exchange.app, reason: "max_retries")
            return respondWithError(
                .badGateway,
                "App \(exchange.app) could not be reached after \(exchange.tries) tries (setting ingress.maxRetries): \(failure).",
                for: exchange
            )
        }
        guard ContinuousClock.now < exchange.deadline else {
            ingress.metrics.retryNotMade(app: exchange.app, reason: "deadline")
            return respondWithError(
                .gatewayTimeout,
                "App \(exchange.app) could not answer before the request's deadline: \(failure).",
                for: exchange
            )
        }
        if !exchange.retrying {
            guard ingress.load.startRetrying(exchange.app) else {
                ingress.metrics.retryNotMade(app: exchange.app, reason: "budget")
                return respondWithError(
                    .serviceUnavailable,
                    "App \(exchange.app) is over its retry budget, so this request was not retried: \(failure).",
                    for: exchange,
                    retryAfter: 1
                )
            }
            exchange.retrying = true
        }
        ingress.metrics.retry(app: exchange.app, reason: kind)
        let jitter = TimeAmount.milliseconds(Int64.random(in: 0...25))
        eventLoop.assumeIsolated().scheduleTask(in: jitter) { [self] in
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
        if let upstream = exchange.upstream {
            // After a request that asked to switch protocols, the sandbox's parser may read
            // nothing more on that connection, as ours does not.
            if reuseUpstream && exchange.requestEnded && exchange.checked.upgrade == nil {
                ingress.upstreamPools.value(for: eventLoop).recycle(upstream)
            } else {
                upstream.close()
            }
        }
        exchange.upstream = nil
        if self.exchange === exchange { self.exchange = nil }
        setClientReading(true)
    }

    private func respondWithError(
        _ status: ResponseStatus,
        _ message: String,
        for exchange: ProxyExchange,
        retryAfter: Int? = nil
    ) {
        if self.exchange === exchange {
            exchange.status = UInt(status.code)
            finish(exchange, reuseUpstream: false)
        }
        sink?.refuse(status, message, minorVersion: exchange.head.minorVersion, retryAfter: retryAfter)
    }

    /// The client's bytes broke the HTTP rules mid-request: it gets the status for that if no
    /// response has started, else its response is cut off.
    func clientViolated(_ violation: HTTP1Violation) {
        guard let exchange else { return }
        guard !exchange.responseStarted else {
            finish(exchange, reuseUpstream: false)
            sink?.abort()
            return
        }
        respondWithError(ResponseStatus(violation), violation.refusal, for: exchange)
    }

    private func cancelResponseTimer() {
        guard let token = responseTimer else { return }
        ingress.timers.value(for: eventLoop).cancel(token)
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
                "sandbox": "\(exchange.servedBy?.sandbox ?? "-")",
                "status": "\(exchange.status.map(String.init) ?? "aborted")",
                "method": "\(exchange.method)", "path": "\(exchange.checked.target)",
                "id": "\(exchange.requestID)",
                "tries": "\(exchange.tries)", "holdMs": "\(ms(exchange.started, exchange.holdEnded))",
                "connectMs": "\(ms(exchange.connectStarted, exchange.connected))",
                "totalMs": "\(ms(exchange.started, end))",
            ]
        )
    }

    private func setClientReading(_ on: Bool) {
        sink?.setReading(on)
    }
}

extension ExchangeDriver: UpstreamDelegate {
    func upstreamResponseHead(_ head: ResponseHead, framing: MessageFraming) {
        guard let exchange else { return }
        if head.status == 101 {
            // The tunnel opens at the 101's end: the decoder still has that end to hand over.
            exchange.switchingProtocols = head
            return cancelResponseTimer()
        }
        exchange.responseStarted = true
        exchange.status = UInt(head.status)
        cancelResponseTimer()
        if let lease = exchange.lease { ingress.leases.responded(lease) }
        if let lease = exchange.lease,
            head.fields.first(Self.contentType)?.lowercased().hasPrefix("text/event-stream") == true
        {
            // An event stream lives on like a WebSocket: its sandbox drains until the stream ends.
            ingress.leases.markStream(lease)
        }
        sink?.sendHead(head, framing: framing, minorVersion: exchange.head.minorVersion, keepAlive: exchange.keepAlive)
    }

    private static let contentType: FieldName = "content-type"

    /// A 101 for a request that asked to switch hands the connection and the lease over to
    /// the sink; the exchange itself ends. A 101 nobody asked for is the sandbox's fault.
    private func switchedProtocols(_ exchange: ProxyExchange, _ head: ResponseHead) {
        guard exchange.checked.upgrade != nil, let upstream = exchange.upstream, let lease = exchange.lease else {
            return respondWithError(
                .badGateway,
                "App \(exchange.app) switched protocols for a request that did not ask to.",
                for: exchange
            )
        }
        exchange.responseStarted = true
        exchange.status = UInt(head.status)
        exchange.lease = nil
        exchange.upstream = nil
        ingress.leases.responded(lease)
        finish(exchange, reuseUpstream: false)
        sink?.switchProtocols(head, minorVersion: exchange.head.minorVersion, to: upstream, lease: lease)
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        sink?.sendBody(body)
    }

    /// Whatever one read from the sandbox brought goes out in one write; an event stream's
    /// events each come in their own read, so none waits for the next.
    func upstreamReadComplete() {
        sink?.flush()
    }

    func upstreamResponseEnd() {
        guard let exchange else { return }
        if let head = exchange.switchingProtocols { return switchedProtocols(exchange, head) }
        finish(exchange, reuseUpstream: true)
        sink?.sendEnd(keepAlive: exchange.keepAlive)
    }

    func upstreamFailed(_ reason: String) {
        guard let exchange else { return }
        let stale = exchange.upstream?.reused == true && !exchange.responseStarted
        exchange.upstream = nil
        if exchange.responseStarted {
            // The client has part of a response: it must not take it for the whole.
            ingress.logger.warning("response cut off", metadata: ["app": "\(exchange.app)", "reason": "\(reason)"])
            finish(exchange, reuseUpstream: false)
            sink?.abort()
            return
        }
        if let lease = exchange.lease {
            // A pooled connection closed under the request is the connection's age, not the
            // sandbox's fault: the retry may go to the same sandbox, on a new connection.
            if !stale { exchange.failedSandboxes.insert(lease.sandbox) }
            ingress.leases.checkin(lease)
            exchange.lease = nil
        }
        if let refusal = exchange.noRetryAfterSend {
            ingress.metrics.retryNotMade(app: exchange.app, reason: refusal.rawValue)
            return respondWithError(
                .badGateway,
                "App \(exchange.app) closed the connection before answering, and the request was not retried: \(exchange.explain(refusal)).",
                for: exchange
            )
        }
        exchange.needsFreshConnection = stale
        retry(exchange, after: reason, kind: stale ? "stale_connection" : "lost_before_response")
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        setClientReading(writable)
    }
}
