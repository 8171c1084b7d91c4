import NIOCore
import NIOPosix

/// For tests: an HTTP server on 127.0.0.1 that answers every request with `status` and
/// `body`, standing in for a sandbox.
public final class TestBackend: Sendable {
    public let url: String
    private let channel: any Channel

    private init(channel: any Channel, url: String) {
        self.channel = channel
        self.url = url
    }

    public static func start(status: Int = 200, body: String = "ok") async throws -> TestBackend {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FixedResponder(status: status, body: body))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TestBackend(channel: channel, url: "http://127.0.0.1:\(channel.localAddress!.port!)")
    }

    public func stop() async {
        try? await channel.close()
    }
}

/// Answers each chunk of request bytes with one fixed response; enough for probes.
private final class FixedResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let response: String

    init(status: Int, body: String) {
        response = "HTTP/1.1 \(status) Status\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response))).assumeIsolated()
            .whenComplete { _ in context.close(promise: nil) }
    }
}
