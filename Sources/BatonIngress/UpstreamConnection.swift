import BatonCore
import BatonHTTP1
import BatonProtocol
import NIOCore
import NIOPosix

/// What an upstream connection tells the request it is serving.
protocol UpstreamDelegate: AnyObject {
    func upstreamResponseHead(_ head: ResponseHead, framing: MessageFraming)
    func upstreamResponseBody(_ body: ByteBuffer)
    func upstreamResponseEnd()
    /// A read from the sandbox is done: what it brought may be flushed to the client.
    func upstreamReadComplete()
    /// The connection closed or failed before the response ended.
    func upstreamFailed(_ reason: String)
    /// The sandbox sent bytes that are not HTTP/1.1 the proxy will forward.
    func upstreamMalformed(_ violation: HTTP1Violation)
    func upstreamWritabilityChanged(_ writable: Bool)
}

/// One keep-alive HTTP/1.1 connection to a sandbox, on the event loop of the client
/// connection it serves, so the two hand each other bytes without changing threads.
final class UpstreamConnection {
    let url: String
    let channel: any Channel
    private let handler: UpstreamHandler

    private init(url: String, channel: any Channel, handler: UpstreamHandler) {
        self.url = url
        self.channel = channel
        self.handler = handler
    }

    /// A new connection to the sandbox at `url`; `done` runs on `loop`.
    static func connect(
        to endpoint: SandboxEndpoint,
        url: String,
        on loop: any EventLoop,
        timeout: TimeAmount,
        _ done: @escaping (Result<UpstreamConnection, any Error>) -> Void
    ) {
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler())
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .assumeIsolated()
            .whenComplete { result in
                done(
                    result.flatMap { channel in
                        Result {
                            let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                            return UpstreamConnection(url: url, channel: channel, handler: handler)
                        }
                    }
                )
            }
    }

    var delegate: (any UpstreamDelegate)? {
        get { handler.delegate }
        set { handler.delegate = newValue }
    }

    /// Whether the last response allows another request on this connection.
    var reusable: Bool { channel.isActive && handler.reusable }

    /// Sends a request head; the response to come answers a HEAD request when `answeringHead`.
    func sendHead(_ head: ByteBuffer, answeringHead: Bool) {
        handler.expectResponse(answeringHead: answeringHead)
        channel.write(head, promise: nil)
    }

    func write(_ bytes: ByteBuffer) {
        channel.write(bytes, promise: nil)
    }

    func flush() {
        channel.flush()
    }

    private var reading = true
    /// Since when it waits in the pool for its next request.
    var idleSince = NIODeadline.now()
    /// Whether it came from the pool rather than a fresh connect.
    var reused = false

    func setReading(_ on: Bool) {
        guard reading != on else { return }
        reading = on
        channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
        if on { channel.read() }
    }

    func close() {
        handler.delegate = nil
        channel.close(promise: nil)
    }

    /// After a 101: the codec leaves and `half` relays the raw bytes, including any the codec
    /// had already read past the response head.
    func becomeTunnel(with half: TunnelHalf) throws {
        handler.delegate = nil
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(half)
        pipeline.removeHandler(handler, promise: nil)
    }
}

/// Reads the sandbox's responses with Baton's own parser. Informational responses other than
/// 101 are dropped; after a 101 nothing more is read as HTTP.
private final class UpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private enum State {
        case idle
        case awaitingHead
        /// In an informational (1xx) response, which the client does not get.
        case skippingInformational
        case inResponse(keepAlive: Bool)
        /// The last response left the connection reusable or not.
        case finished(reusable: Bool)
        /// After a 101: bytes are kept for the tunnel.
        case switched
        /// After a malformed response or a close: nothing more is read.
        case failed
    }

    weak var delegate: (any UpstreamDelegate)?
    private var state = State.idle
    private var decoder = ResponseDecoder()
    private var received = Cumulation()
    private var context: ChannelHandlerContext?

    var reusable: Bool {
        if case .finished(let reusable) = state { return reusable }
        return false
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func expectResponse(answeringHead: Bool) {
        decoder.answeringHead = answeringHead
        state = .awaitingHead
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.append(unwrapInboundIn(data))
        decode()
    }

    private func decode() {
        while true {
            switch state {
            case .awaitingHead, .skippingInformational, .inResponse:
                guard step() else { return received.compact() }
            case .idle, .finished, .switched, .failed:
                return received.compact()
            }
        }
    }

    /// Reads one part; false when the bytes so far hold none.
    private func step() -> Bool {
        guard var bytes = received.take() else { return false }
        let part: MessagePart<ResponseHead>?
        do {
            part = try decoder.next(&bytes)
        } catch {
            received.putBack(bytes)
            state = .failed
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamMalformed(error)
            context?.close(promise: nil)
            return false
        }
        received.putBack(bytes)
        guard let part else { return false }
        deliver(part)
        return true
    }

    private func deliver(_ part: MessagePart<ResponseHead>) {
        switch (state, part) {
        case (.awaitingHead, .head(let head, let framing)):
            if head.status == 101 {
                state = .switched
                delegate?.upstreamResponseHead(head, framing: .none)
                let delegate = self.delegate
                self.delegate = nil
                delegate?.upstreamResponseEnd()
            } else if head.status < 200 {
                state = .skippingInformational
            } else {
                state = .inResponse(keepAlive: head.keepAlive && framing != .untilClose)
                delegate?.upstreamResponseHead(head, framing: framing)
            }
        case (.skippingInformational, .end):
            state = .awaitingHead
        case (.skippingInformational, .body):
            break
        case (.inResponse, .body(let body)):
            delegate?.upstreamResponseBody(body)
        case (.inResponse(let keepAlive), .end):
            state = .finished(reusable: keepAlive)
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamResponseEnd()
        default:
            fail("the sandbox sent a response nobody asked for")
        }
    }

    private func fail(_ reason: String) {
        state = .failed
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(reason)
        context?.close(promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A body read until close is whole now.
        if case .inResponse = state, case .end? = decoder.connectionEnded() {
            state = .finished(reusable: false)
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamResponseEnd()
        } else {
            fail("the sandbox closed the connection")
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)")
    }

    /// Bytes past a 101 go on as bytes, to the tunnel half that takes this handler's place.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        if case .switched = state, context.channel.isActive, let rest = received.takeRest() {
            context.fireChannelRead(NIOAny(rest))
        }
    }
}
