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

/// Carries one request at a time to a sandbox and its answer back to a sink, doing what the
/// exchange's lifecycle (`ExchangeLifecycle`) decides: it takes a lease slot, connects, sends,
/// retries when that is safe, and answers. It runs on one event loop, the sink's.
final class ExchangeDriver {
    private let ingress: IngressContext
    private let eventLoop: any EventLoop
    private let loop: LoopServices
    private weak var sink: (any ExchangeSink)?
    private(set) var exchange: ProxyExchange?
    private var responseTimer: LoopTimers.Token?
    /// The sandbox's response head while the lifecycle decides whether the client gets it.
    private var arrivingHead: (head: ResponseHead, framing: MessageFraming)?

    init(ingress: IngressContext, eventLoop: any EventLoop, loop: LoopServices, sink: any ExchangeSink) {
        self.ingress = ingress
        self.eventLoop = eventLoop
        self.loop = loop
        self.sink = sink
    }

    /// Starts carrying `exchange`; its body follows through `received` and `ended`.
    func start(_ exchange: ProxyExchange) {
        self.exchange = exchange
        ingress.load.started(exchange.app)
        if case .length(let declared) = exchange.checked.framing, declared > ingress.configuration.maxBodyBytes {
            return handle(.bodyTooLarge, of: exchange)
        }
        perform(exchange.lifecycle.start(), for: exchange)
    }

    func received(_ body: ByteBuffer) {
        guard let exchange else { return }
        exchange.received(body)
        if exchange.bodyBytes > ingress.configuration.maxBodyBytes {
            return handle(.bodyTooLarge, of: exchange)
        }
        if let upstream = exchange.upstream {
            writeBody(body, of: exchange, to: upstream)
        } else {
            exchange.unsent.append(body)
            exchange.unsentBytes += body.readableBytes
            if exchange.unsentBytes > ingress.configuration.replayBufferBytes { setClientReading(false) }
        }
    }

    func ended() {
        guard let exchange else { return }
        exchange.requestEnded()
        if let upstream = exchange.upstream {
            writeEnd(of: exchange, to: upstream)
            upstream.flush()
        }
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
        if let exchange { handle(.clientGone, of: exchange) }
    }

    /// The client's bytes broke the HTTP rules mid-request.
    func clientViolated(_ violation: HTTP1Violation) {
        if let exchange { handle(.clientViolated(violation), of: exchange) }
    }

    // MARK: The lifecycle's events and actions

    private func handle(_ event: ExchangeLifecycle.Event, of exchange: ProxyExchange) {
        guard self.exchange === exchange else { return }
        perform(exchange.lifecycle.handle(event, now: .now), for: exchange)
    }

    /// Carries out `actions` in order. An invalidation goes to the broker's actor; the rest
    /// wait for its answer, which comes back on this loop as the `invalidated` event.
    private func perform(_ actions: [ExchangeLifecycle.Action], for exchange: ProxyExchange) {
        for action in actions {
            switch action {
            case .checkout(let excluding): checkout(exchange, excluding: excluding)
            case .connect(let lease, let fresh): connect(exchange, lease, fresh: fresh)
            case .send(let replay): send(exchange, replay: replay)
            case .armResponseTimer: armResponseTimer(exchange)
            case .giveBack(let lease):
                if exchange.upstream != nil { dropUpstream(of: exchange) }
                ingress.leases.checkin(lease, to: loop.leases)
            case .invalidate(let lease, let reason): invalidate(lease, reason: reason, for: exchange)
            case .scheduleRetry(let kind, let claimBudget):
                scheduleRetry(exchange, kind: kind, claimBudget: claimBudget)
            case .noRetry(let reason): ingress.metrics.retryNotMade(app: exchange.app, reason: reason)
            case .responded(let lease):
                cancelResponseTimer()
                ingress.leases.responded(lease)
            case .forwardHead: forwardHead(exchange)
            case .openTunnel(let lease): openTunnel(exchange, lease)
            case .finish(let lease, let reuseUpstream): finish(exchange, lease: lease, reuseUpstream: reuseUpstream)
            case .endResponse: sink?.sendEnd(keepAlive: exchange.keepAlive)
            case .refuse(let status, let message, let retryAfter):
                exchange.status = UInt(status.code)
                sink?.refuse(status, message, minorVersion: exchange.head.minorVersion, retryAfter: retryAfter)
            case .abort: sink?.abort()
            }
        }
    }

    private func checkout(_ exchange: ProxyExchange, excluding: Set<SandboxID>) {
        if let lease = ingress.leases.checkoutCached(
            app: exchange.app,
            service: exchange.service,
            excluding: excluding,
            from: loop.leases
        ) {
            return handle(.leaseGranted(lease), of: exchange)
        }
        let depth = ingress.configuration.holdQueueDepth
        guard ingress.load.startHolding(exchange.app, depth: depth) else {
            return handle(.holdQueueFull(depth: depth), of: exchange)
        }
        let holdStarted = ContinuousClock.now
        let completion = NIOLoopBound(
            { [self] (result: Result<Lease, CoreError>) in
                ingress.load.stopHolding(exchange.app)
                ingress.metrics.held(app: exchange.app, for: .now - holdStarted)
                guard self.exchange === exchange else {
                    if case .success(let lease) = result { ingress.leases.checkin(lease, to: loop.leases) }
                    return
                }
                switch result {
                case .success(let lease): handle(.leaseGranted(lease), of: exchange)
                case .failure(let error): handle(.leaseRefused(error), of: exchange)
                }
            },
            eventLoop: eventLoop
        )
        ingress.leases.checkoutNew(
            app: exchange.app,
            service: exchange.service,
            wait: .nanoseconds(ingress.configuration.holdTimeout.nanoseconds),
            excluding: excluding,
            onto: loop.leases,
            on: eventLoop,
            then: completion
        )
    }

    private func connect(_ exchange: ProxyExchange, _ lease: Lease, fresh: Bool) {
        exchange.servedBy = lease
        ingress.metrics.upstreamAttempt(app: exchange.app)
        if exchange.holdEnded == nil { exchange.holdEnded = .now }
        exchange.connectStarted = .now
        let pool = loop.pool
        let idleAtMost = fresh ? .zero : exchange.isIdempotent ? nil : ingress.configuration.upstreamSafeReuse
        pool.connection(to: lease.url, timeout: ingress.configuration.connectTimeout, idleAtMost: idleAtMost) {
            [self] result in
            guard self.exchange === exchange, case .connecting(lease) = exchange.lifecycle.state else {
                if case .success(let connection) = result { connection.close() }
                return
            }
            switch result {
            case .success(let connection):
                exchange.upstream = connection
                exchange.connected = .now
                connection.delegate = self
                handle(.connected, of: exchange)
            case .failure(let error):
                handle(.connectFailed("\(error)"), of: exchange)
            }
        }
    }

    /// The head, and the body so far: the whole kept body when an earlier try sent it already.
    private func send(_ exchange: ProxyExchange, replay: Bool) {
        guard let connection = exchange.upstream else { return }
        var head = connection.channel.allocator.buffer(capacity: exchange.head.fields.bytes.readableBytes + 256)
        HeadWriter.upstreamRequest(exchange, clientAddress: sink?.clientAddress, into: &head)
        connection.sendHead(head, answeringHead: exchange.isHeadRequest)
        for part in replay ? (exchange.replay ?? []) : exchange.unsent { writeBody(part, of: exchange, to: connection) }
        exchange.unsent = []
        exchange.unsentBytes = 0
        if exchange.request == .ended { writeEnd(of: exchange, to: connection) }
        connection.flush()
        setClientReading(true)
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

    /// The connection of a failed try is closed; the next try makes or takes another.
    private func dropUpstream(of exchange: ProxyExchange) {
        exchange.upstream?.close()
        exchange.upstream = nil
    }

    /// A sandbox that takes too long to start answering gets no retry: the request may be
    /// running there. The client gets 504 and the lease stays good, unless the sandbox has
    /// let requests time out again and again.
    private func armResponseTimer(_ exchange: ProxyExchange) {
        let timers = loop.timers
        timers.cancel(responseTimer)
        let remaining = exchange.lifecycle.policy.deadline - ContinuousClock.now
        let wait = TimeAmount.nanoseconds(
            max(0, remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000)
        )
        responseTimer = timers.schedule(in: wait) { [self] in
            responseTimer = nil
            guard self.exchange === exchange, let lease = exchange.lifecycle.heldLease else { return }
            handle(.responseTimedOut(suspect: ingress.leases.responseTimedOut(lease)), of: exchange)
        }
    }

    private func cancelResponseTimer() {
        guard let token = responseTimer else { return }
        loop.timers.cancel(token)
        responseTimer = nil
    }

    /// From the event loop to the cache's actor; the answer comes back to the loop.
    private func invalidate(_ lease: Lease, reason: String, for exchange: ProxyExchange) {
        let cache = ingress.leases
        let loop = eventLoop
        let done = NIOLoopBound({ [self] in handle(.invalidated, of: exchange) }, eventLoop: loop)
        // An event loop cannot await the cache (which logs it): this task ends in `invalidated`.
        Task {
            await cache.invalidate(lease, reason: reason)
            loop.execute { done.value() }
        }
    }

    private func scheduleRetry(_ exchange: ProxyExchange, kind: String, claimBudget: Bool) {
        if claimBudget, !ingress.load.startRetrying(exchange.app) {
            return handle(.retryBudgetRefused, of: exchange)
        }
        ingress.metrics.retry(app: exchange.app, reason: kind)
        let jitter = TimeAmount.milliseconds(Int64.random(in: 0...25))
        eventLoop.assumeIsolated().scheduleTask(in: jitter) { [self] in
            handle(.retryDue, of: exchange)
        }
    }

    private func forwardHead(_ exchange: ProxyExchange) {
        guard let (head, framing) = arrivingHead else { return }
        exchange.status = UInt(head.status)
        if let lease = exchange.servedBy,
            head.fields.first(Self.contentType)?.lowercased().hasPrefix("text/event-stream") == true
        {
            // An event stream lives on like a WebSocket: its sandbox drains until the stream ends.
            ingress.leases.markStream(lease)
        }
        sink?.sendHead(head, framing: framing, minorVersion: exchange.head.minorVersion, keepAlive: exchange.keepAlive)
    }

    private static let contentType: FieldName = "content-type"

    /// The client gets the sandbox's 101 and the connection becomes a tunnel, which holds the
    /// lease slot until either side closes.
    private func openTunnel(_ exchange: ProxyExchange, _ lease: Lease) {
        guard let upstream = exchange.upstream, let head = exchange.switchingProtocols else { return }
        exchange.upstream = nil
        exchange.status = 101
        finish(exchange, lease: nil, reuseUpstream: false)
        sink?.switchProtocols(head, minorVersion: exchange.head.minorVersion, to: upstream, lease: lease)
    }

    // MARK: Finishing

    private func finish(_ exchange: ProxyExchange, lease: Lease?, reuseUpstream: Bool) {
        cancelResponseTimer()
        logAccess(exchange)
        ingress.load.finished(exchange.app, wasRetrying: exchange.lifecycle.budget == .held)
        if let lease { ingress.leases.checkin(lease, to: loop.leases) }
        if let upstream = exchange.upstream {
            // After a request that asked to switch protocols, the sandbox's parser may read
            // nothing more on that connection, as ours does not.
            if reuseUpstream && exchange.request == .ended && exchange.checked.upgrade == nil {
                loop.pool.recycle(upstream)
            } else {
                upstream.close()
            }
        }
        exchange.upstream = nil
        if self.exchange === exchange { self.exchange = nil }
        setClientReading(true)
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
                "tries": "\(exchange.lifecycle.tries)", "holdMs": "\(ms(exchange.started, exchange.holdEnded))",
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
        if head.status == 101 { exchange.switchingProtocols = head }
        arrivingHead = (head, framing)
        handle(.responseHead(status: head.status), of: exchange)
        arrivingHead = nil
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
        handle(.responseEnded, of: exchange)
    }

    func upstreamFailed(_ reason: String) {
        guard let exchange else { return }
        let stale = exchange.upstream?.reused == true && !exchange.lifecycle.responseStarted
        exchange.upstream = nil
        if exchange.lifecycle.responseStarted {
            // The client has part of a response: it must not take it for the whole.
            ingress.logger.warning("response cut off", metadata: ["app": "\(exchange.app)", "reason": "\(reason)"])
        }
        handle(.upstreamLost(reason, stale: stale, noRetry: exchange.noRetryAfterSend), of: exchange)
    }

    func upstreamMalformed(_ violation: HTTP1Violation) {
        guard let exchange else { return }
        exchange.upstream = nil
        ingress.logger.warning(
            "malformed response",
            metadata: ["app": "\(exchange.app)", "reason": "\(violation.reason)"]
        )
        handle(.upstreamMalformed(violation), of: exchange)
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        setClientReading(writable)
    }
}
