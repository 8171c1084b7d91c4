import NIOCore
import NIOHTTP1
import NIOPosix

/// The kit's own HTTP app: it answers every request 200 with its name. The scheduler kit
/// has plugins run it as their sandbox (`baton contract fixture-app`, on `$PORT`); the
/// router kit runs a few in-process as backends.
public final class FixtureServer: Sendable {
    public let name: String
    public let port: Int
    private let channel: any Channel

    private init(name: String, port: Int, channel: any Channel) {
        self.name = name
        self.port = port
        self.channel = channel
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public static func start(
        name: String,
        port: Int = 0,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> FixtureServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
                    try channel.pipeline.syncOperations.addHandler(NameResponder(name: name))
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        return FixtureServer(name: name, port: channel.localAddress?.port ?? port, channel: channel)
    }

    public func stop() async {
        try? await channel.close()
    }

    /// Runs until the process is stopped.
    public func wait() async throws {
        try await channel.closeFuture.get()
    }
}

private final class NameResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let name: String
    private var keepAlive = true

    init(name: String) {
        self.name = name
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "\(name.utf8.count)")
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                promise: nil
            )
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: name)))),
                promise: nil
            )
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
