import NIOCore
import NIOPosix

/// For tests: a TCP client that sends whatever bytes it is given and collects everything
/// the server sends until the server closes.
public final class RawTCPClient: Sendable {
    private let channel: any Channel
    private let received: EventLoopFuture<String>

    private init(channel: any Channel, received: EventLoopFuture<String>) {
        self.channel = channel
        self.received = received
    }

    public static func connect(port: Int) async throws -> RawTCPClient {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let done = loop.makePromise(of: String.self)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return RawTCPClient(channel: channel, received: done.futureResult)
    }

    public func send(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text))
    }

    /// Everything the server sent, once it closed the connection.
    public func untilClosed() async throws -> String {
        try await received.get()
    }

    public func close() async {
        try? await channel.close()
    }
}

private final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let done: EventLoopPromise<String>
    private var text = ""

    init(done: EventLoopPromise<String>) {
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.succeed(text)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
