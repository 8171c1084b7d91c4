import BatonCore
import BatonProtocol
import NIOCore
import NIOHTTP1
import NIOPosix

/// What an upstream connection tells the request it is serving.
protocol UpstreamDelegate: AnyObject {
    func upstreamResponseHead(_ head: HTTPResponseHead)
    func upstreamResponseBody(_ body: ByteBuffer)
    func upstreamResponseEnd()
    /// A read from the sandbox is done: what it brought may be flushed to the client.
    func upstreamReadComplete()
    /// The connection closed or failed before the response ended.
    func upstreamFailed(_ reason: String)
    func upstreamWritabilityChanged(_ writable: Bool)
}

/// One keep-alive HTTP/1.1 connection to a sandbox, on the event loop of the client
/// connection it serves, so the two hand each other bytes without changing threads.
final class UpstreamConnection {
    let url: String
    let channel: any Channel
    fileprivate let handler: UpstreamHandler

    fileprivate init(url: String, channel: any Channel, handler: UpstreamHandler) {
        self.url = url
        self.channel = channel
        self.handler = handler
    }

    var delegate: (any UpstreamDelegate)? {
        get { handler.delegate }
        set { handler.delegate = newValue }
    }

    /// Whether the last response allows another request on this connection.
    var reusable: Bool { channel.isActive && handler.keepAlive && !handler.failed }

    func write(_ part: HTTPClientRequestPart) {
        channel.write(part, promise: nil)
    }

    func flush() {
        channel.flush()
    }

    private var reading = true
    /// Whether the pool watches this connection's close.
    fileprivate var pooled = false
    /// Since when it waits in the pool for its next request.
    fileprivate var idleSince = NIODeadline.now()
    /// Whether it came from the pool rather than a fresh connect.
    fileprivate(set) var reused = false

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

    /// After a 101: the HTTP handlers leave and `half` relays the raw bytes, including any
    /// the decoder had already read past the response head.
    func becomeTunnel(with half: TunnelHalf) throws {
        handler.delegate = nil
        let pipeline = channel.pipeline.syncOperations
        pipeline.removeHandler(handler, promise: nil)
        try pipeline.addHandler(half)
        pipeline.removeHandler(try pipeline.handler(type: HTTPRequestEncoder.self), promise: nil)
        pipeline.removeHandler(try pipeline.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self), promise: nil)
    }
}

private final class UpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    weak var delegate: (any UpstreamDelegate)?
    var keepAlive = true
    var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            delegate?.upstreamResponseHead(head)
        case .body(let body):
            delegate?.upstreamResponseBody(body)
        case .end:
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamResponseEnd()
        }
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
        failed = true
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed("the sandbox closed the connection")
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failed = true
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed("\(error)")
        context.close(promise: nil)
    }
}

/// Idle keep-alive connections to sandboxes, for one event loop.
/// A sandbox reported an address that is not `http://host[:port]`.
struct UnusableSandboxAddress: Error, CustomStringConvertible {
    var url: String
    var description: String { "unusable sandbox address \(url)" }
}

final class UpstreamPool {
    private let eventLoop: any EventLoop
    private var idle: [String: [UpstreamConnection]] = [:]

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// An idle connection to `url`, or a new one; `done` runs on this pool's event loop.
    /// The address is only parsed when a connection has to be made.
    /// With `idleAtMost`, only a connection idle for less than that is reused: the most
    /// recently used one is tried, and if it is older a new connection is made.
    func connection(
        to url: String,
        timeout: TimeAmount,
        idleAtMost: TimeAmount? = nil,
        _ done: @escaping (Result<UpstreamConnection, any Error>) -> Void
    ) {
        while var list = idle[url], let reused = list.last {
            if let idleAtMost, NIODeadline.now() - reused.idleSince >= idleAtMost { break }
            list.removeLast()
            idle[url] = list
            if reused.channel.isActive {
                reused.reused = true
                return done(.success(reused))
            }
        }
        guard let endpoint = SandboxEndpoint(url) else { return done(.failure(UnusableSandboxAddress(url: url))) }
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        leftOverBytesStrategy: .forwardBytes,
                        enableOutboundHeaderValidation: false
                    )
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

    /// Keeps a connection whose exchange ended cleanly for the next request to `url`.
    func recycle(_ connection: UpstreamConnection) {
        connection.delegate = nil
        guard connection.reusable else { return connection.close() }
        connection.setReading(true)
        connection.idleSince = .now()
        if !connection.pooled {
            // Once per connection: when the sandbox closes it, it leaves the idle list.
            connection.pooled = true
            connection.channel.closeFuture.assumeIsolated().whenComplete { [weak self] _ in
                self?.idle[connection.url]?.removeAll { $0 === connection }
            }
        }
        idle[connection.url, default: []].append(connection)
    }
}
