import NIOCore
import NIOHTTP1
import NIOPosix

/// For tests: an HTTP/1.1 server on 127.0.0.1 standing in for a sandbox. Each request is
/// answered by `respond`, given the request head and its whole body.
public final class TestBackend: Sendable {
    public struct Reply: Sendable {
        public var status: HTTPResponseStatus
        public var headers: [(String, String)]
        public var body: String
        /// How long to wait before answering.
        public var delayMs: Int64

        public init(
            status: HTTPResponseStatus = .ok,
            headers: [(String, String)] = [],
            body: String = "ok",
            delayMs: Int64 = 0
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delayMs = delayMs
        }
    }

    /// Returns the reply, or nil to close the connection without answering.
    public typealias Responder = @Sendable (HTTPRequestHead, String) -> Reply?

    public let url: String
    public let port: Int
    private let channel: any Channel

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
        self.url = "http://127.0.0.1:\(port)"
    }

    public static func start(status: Int = 200, body: String = "ok") async throws -> TestBackend {
        try await start { _, _ in Reply(status: HTTPResponseStatus(statusCode: status), body: body) }
    }

    /// With `closingIdleAfter`, a request that comes on a keep-alive connection idle that long
    /// since its last answer finds it closed, unanswered and unrun: the moment a server's idle
    /// timer fires as a request arrives, made certain.
    public static func start(
        closingIdleAfter: TimeAmount? = nil,
        _ respond: @escaping Responder
    ) async throws -> TestBackend {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        BackendHandler(respond: respond, closingIdleAfter: closingIdleAfter)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TestBackend(channel: channel, port: channel.localAddress!.port!)
    }

    public func stop() async {
        try? await channel.close()
    }
}

private final class BackendHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: TestBackend.Responder
    private let closingIdleAfter: TimeAmount?
    private var head: HTTPRequestHead?
    private var body = ""
    /// Since when the connection waits for its next request; nil before its first.
    private var idleSince: NIODeadline?

    init(respond: @escaping TestBackend.Responder, closingIdleAfter: TimeAmount?) {
        self.respond = respond
        self.closingIdleAfter = closingIdleAfter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let closingIdleAfter, let idleSince, NIODeadline.now() - idleSince >= closingIdleAfter {
                self.head = nil  // the rest of this request is never run
                return context.close(promise: nil)
            }
            self.head = head
            body = ""
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            guard let head else { return }
            guard let reply = respond(head, body) else { return context.close(promise: nil) }
            guard reply.delayMs > 0 else { return send(reply, to: head, context: context) }
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(reply.delayMs)) { [self] in
                send(reply, to: head, context: context)
            }
        }
    }

    private func send(_ reply: TestBackend.Reply, to head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders(reply.headers)
        headers.replaceOrAdd(name: "Content-Length", value: "\(reply.body.utf8.count)")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: reply.status, headers: headers))),
            promise: nil
        )
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: reply.body)))),
            promise: nil
        )
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { [self] _ in
            idleSince = .now()
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
