import NIOCore
import NIOHTTP1
import NIOPosix

/// For tests: a sandbox that accepts `Upgrade: websocket` with 101 and then echoes every
/// byte back prefixed with its name, so a test can tell which version answered. Plain
/// requests get 200 and the name.
public final class TunnelBackend: Sendable {
    public let url: String
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
        url = "http://127.0.0.1:\(channel.localAddress!.port!)"
    }

    public static func start(name: String) async throws -> TunnelBackend {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrade: NIOHTTPServerUpgradeConfiguration = (
                        upgraders: [EchoUpgrader(name: name)],
                        completionHandler: { context in
                            let pipeline = context.pipeline.syncOperations
                            if let plain = try? pipeline.handler(type: PlainAnswer.self) {
                                pipeline.removeHandler(plain, promise: nil)
                            }
                        }
                    )
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withServerUpgrade: upgrade)
                    try channel.pipeline.syncOperations.addHandler(PlainAnswer(name: name))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TunnelBackend(channel: channel)
    }

    public func stop() async {
        try? await channel.close()
    }
}

private final class EchoUpgrader: HTTPServerProtocolUpgrader {
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []
    let name: String

    init(name: String) {
        self.name = name
    }

    func buildUpgradeResponse(
        channel: any Channel,
        upgradeRequest: HTTPRequestHead,
        initialResponseHeaders: HTTPHeaders
    )
        -> EventLoopFuture<HTTPHeaders>
    {
        var headers = initialResponseHeaders
        headers.add(name: "X-Tunnel", value: name)
        return channel.eventLoop.makeSucceededFuture(headers)
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        context.eventLoop.makeCompletedFuture { try context.pipeline.syncOperations.addHandler(Echo(name: name)) }
    }
}

private final class Echo: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let name: String

    init(name: String) {
        self.name = name
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let text = String(buffer: unwrapInboundIn(data))
        context.writeAndFlush(
            wrapOutboundOut(context.channel.allocator.buffer(string: "\(name):\(text)")),
            promise: nil
        )
    }
}

private final class PlainAnswer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let name: String

    init(name: String) {
        self.name = name
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let headers = HTTPHeaders([("Content-Length", "\(name.utf8.count)")])
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
            promise: nil
        )
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: name)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
