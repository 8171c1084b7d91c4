import BatonCore
import NIOCore
import NIOHTTP1

/// Relays raw bytes between an upgraded client connection and its sandbox connection, with
/// backpressure both ways. Both channels live on one event loop, so the two halves call
/// each other directly. When either side closes, both do, and the lease is given back.
final class TunnelHalf: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What runs when the tunnel ends, shared by both halves so it runs once however the
    /// two closes interleave (both live on one event loop).
    private final class Ending {
        private var action: (() -> Void)?

        init(_ action: @escaping () -> Void) {
            self.action = action
        }

        func run() {
            let action = self.action
            self.action = nil
            action?()
        }
    }

    private var partner: TunnelHalf?
    private var context: ChannelHandlerContext?
    private let ending: Ending

    /// Two halves that relay to each other; `onClose` runs once, when the tunnel ends.
    static func pair(onClose: @escaping () -> Void) -> (TunnelHalf, TunnelHalf) {
        let ending = Ending(onClose)
        let first = TunnelHalf(ending: ending)
        let second = TunnelHalf(ending: ending)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    private init(ending: Ending) {
        self.ending = ending
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !context.channel.isActive { partner?.close() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        partner?.setReading(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.close()
        ending.run()
        context.fireChannelInactive()
    }

    /// A side that finished sending (the ingress allows half-closure) ends the tunnel: a
    /// WebSocket peer that sends FIN is gone, and waiting on the other side would hold its
    /// lease, and its sandbox's drain, until that side gives up.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            partner?.close()
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func close() {
        context?.close(promise: nil)
    }

    private func setReading(_ on: Bool) {
        guard let context else { return }
        context.channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
        if on { context.read() }
    }
}

/// Proxies a WebSocket upgrade: the request goes to a sandbox of the routed app, and only
/// when the sandbox answers 101 does the client get its 101; then both connections become
/// one byte tunnel holding a lease slot. If the sandbox declines, the request is proxied
/// as an ordinary one instead.
final class TunnelUpgrader: HTTPServerProtocolUpgrader {
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []

    private let ingress: IngressContext
    private var pending: (connection: UpstreamConnection, lease: Lease)?
    /// Held here because a connection only keeps its delegate weakly.
    private var answer: UpgradeAnswer?

    init(ingress: IngressContext) {
        self.ingress = ingress
    }

    func buildUpgradeResponse(
        channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: HTTPHeaders.self)
        guard let app = ingress.routes.app(forHost: upgradeRequest.headers.first(name: "host")) else {
            promise.fail(ChannelError.inappropriateOperationForState)
            return promise.futureResult
        }
        let cache = ingress.leases
        let waitMs = ingress.configuration.holdTimeout.nanoseconds / 1_000_000
        let next = NIOLoopBound({ [self] (result: Result<Lease, CoreError>) in
            switch result {
            case .success(let lease):
                open(lease, for: upgradeRequest, from: channel, headers: initialResponseHeaders, answer: promise)
            case .failure(let error):
                promise.fail(error)
            }
        }, eventLoop: loop)
        if let cached = cache.checkoutCached(app: app, service: "web", excluding: []) {
            next.value(.success(cached))
        } else {
            cache.checkoutNew(app: app, service: "web", waitMs: waitMs, excluding: [], on: loop, then: next)
        }
        return promise.futureResult
    }

    private func open(
        _ lease: Lease, for request: HTTPRequestHead, from client: any Channel, headers: HTTPHeaders,
        answer: EventLoopPromise<HTTPHeaders>
    ) {
        let pool = ingress.upstreamPools.value(for: client.eventLoop)
        pool.connection(to: lease.url, timeout: ingress.configuration.connectTimeout) {
            [self] result in
            switch result {
            case .failure(let error):
                ingress.leases.checkin(lease)
                answer.fail(error)
            case .success(let connection):
                let waiter = UpgradeAnswer(promise: answer, initialHeaders: headers) { [self] accepted in
                    self.answer = nil
                    if accepted {
                        pending = (connection, lease)
                    } else {
                        connection.close()
                        ingress.leases.checkin(lease)
                    }
                }
                self.answer = waiter
                connection.delegate = waiter
                var head = ProxyHeaders.upstreamRequest(
                    request, clientAddress: client.remoteAddress?.ipAddress, requestID: request.headers.first(name: "x-request-id") ?? "")
                head.headers.replaceOrAdd(name: "Connection", value: "Upgrade")
                head.headers.replaceOrAdd(name: "Upgrade", value: request.headers.first(name: "upgrade") ?? supportedProtocol)
                connection.write(.head(head))
                connection.write(.end(nil))
                connection.flush()
            }
        }
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        guard let (connection, lease) = pending else {
            return context.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
        }
        pending = nil
        let cache = ingress.leases
        let (clientHalf, sandboxHalf) = TunnelHalf.pair { cache.checkin(lease) }
        ingress.tunnels.add(lease: lease, client: context.channel)
        cache.markStream(lease)
        return context.eventLoop.makeCompletedFuture {
            try context.pipeline.syncOperations.addHandler(clientHalf)
            try connection.becomeTunnel(with: sandboxHalf)
        }
    }
}

/// Waits for the sandbox's answer to an upgrade request: 101 completes the upgrade with
/// the sandbox's headers; anything else declines it.
private final class UpgradeAnswer: UpstreamDelegate {
    private let promise: EventLoopPromise<HTTPHeaders>
    private let initialHeaders: HTTPHeaders
    private let decided: (Bool) -> Void

    init(promise: EventLoopPromise<HTTPHeaders>, initialHeaders: HTTPHeaders, decided: @escaping (Bool) -> Void) {
        self.promise = promise
        self.initialHeaders = initialHeaders
        self.decided = decided
    }

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        let accepted = head.status == .switchingProtocols
        decided(accepted)
        if accepted {
            // The client's 101 carries NIO's Upgrade and Connection headers plus the
            // sandbox's own, such as Sec-WebSocket-Accept.
            var sandboxHeaders = head.headers
            ProxyHeaders.stripHopByHop(&sandboxHeaders)
            var headers = initialHeaders
            for (name, value) in sandboxHeaders { headers.add(name: name, value: value) }
            promise.succeed(headers)
        } else {
            promise.fail(ChannelError.inappropriateOperationForState)
        }
    }

    func upstreamResponseBody(_ body: ByteBuffer) {}
    func upstreamResponseEnd() {}
    func upstreamReadComplete() {}

    func upstreamFailed(_ reason: String) {
        decided(false)
        promise.fail(ChannelError.ioOnClosedChannel)
    }

    func upstreamWritabilityChanged(_ writable: Bool) {}
}
