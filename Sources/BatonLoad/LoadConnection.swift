import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// What one request got back.
public struct LoadResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: ByteBuffer
}

/// One keep-alive HTTP/1.1 connection that sends one request at a time.
public final class LoadConnection: Sendable {
    private let channel: any Channel
    /// Whether another request may go on it: not after an answer said `Connection: close`,
    /// even while the close (over TLS, an exchange of alerts) is still under way.
    private let reuse = NIOLockedValueBox(Reuse.open)

    private enum Reuse {
        case open
        case closing
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    public static func connect(
        host: String,
        port: Int,
        tls: (LoadTLS, hostHeader: String)? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws
        -> LoadConnection
    {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try LoadTLS.add(tls.0, for: tls.hostHeader, to: channel) }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector())
                }
            }
            .connect(host: host, port: port)
            .get()
        return LoadConnection(channel: channel)
    }

    public var isActive: Bool { channel.isActive && reuse.withLockedValue { $0 == .open } }

    /// A request without a whole answer after this long fails, and its connection is closed.
    public static let requestTimeout: TimeAmount = .seconds(10)

    public func request(
        _ method: HTTPMethod,
        _ path: String,
        headers: HTTPHeaders,
        body: ByteBuffer? = nil
    ) async throws -> LoadResponse {
        var headers = headers
        if let body { headers.replaceOrAdd(name: "Content-Length", value: "\(body.readableBytes)") }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        let promise = channel.eventLoop.makePromise(of: LoadResponse.self)
        // A connection that closed before the write never reaches the collector: the failed
        // write is then the only news, and must end the request rather than leave it waiting.
        channel.writeAndFlush(ResponseCollector.Outbound(head: head, body: body, promise: promise)).whenFailure {
            error in
            promise.fail(error)
        }
        let response = try await promise.futureResult.get()
        if response.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" }) {
            reuse.withLockedValue { $0 = .closing }
        }
        return response
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Sends a request and completes its promise with the whole response; a connection that
/// closes first fails it.
private final class ResponseCollector: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Outbound
    typealias OutboundOut = HTTPClientRequestPart

    struct Outbound {
        var head: HTTPRequestHead
        var body: ByteBuffer?
        var promise: EventLoopPromise<LoadResponse>
    }

    private var pending: EventLoopPromise<LoadResponse>?
    private var response: LoadResponse?
    private var keepAlive = true

    struct TimedOut: Error, CustomStringConvertible {
        var description: String {
            "no whole answer within \(LoadConnection.requestTimeout.nanoseconds / 1_000_000_000) s"
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        pending = request.promise
        let deadline = context.eventLoop.assumeIsolated().scheduleTask(in: LoadConnection.requestTimeout) {
            [weak self] in
            guard let self, let pending = self.pending, pending.futureResult === request.promise.futureResult else {
                return
            }
            self.pending = nil
            pending.fail(TimedOut())
            context.close(promise: nil)
        }
        request.promise.futureResult.whenComplete { _ in deadline.cancel() }
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if let body = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response = LoadResponse(
                status: Int(head.status.code),
                headers: head.headers,
                body: context.channel.allocator.buffer(capacity: 0)
            )
            keepAlive = head.isKeepAlive
        case .body(var part):
            response?.body.writeBuffer(&part)
        case .end:
            if let response, let pending {
                self.pending = nil
                self.response = nil
                // `Connection: close`: closed before the answer is handed on, so the next
                // request goes out on a new connection rather than one the server is closing.
                if !keepAlive { context.close(promise: nil) }
                pending.succeed(response)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.fail(ChannelError.ioOnClosedChannel)
        pending = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        pending?.fail(error)
        pending = nil
        context.close(promise: nil)
    }
}
