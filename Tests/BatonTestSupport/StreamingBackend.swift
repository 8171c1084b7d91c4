import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// For tests: a sandbox that answers every request with a server-sent-events stream. It
/// writes the first event at once and the rest only when the test calls `send`, so a test
/// can see that nothing between it and the client holds events back.
public final class StreamingBackend: Sendable {
    public let url: String
    private let channel: any Channel
    private let streams: NIOLockedValueBox<[any Channel]>

    private init(channel: any Channel, streams: NIOLockedValueBox<[any Channel]>) {
        self.channel = channel
        self.streams = streams
        url = "http://127.0.0.1:\(channel.localAddress!.port!)"
    }

    public static func start(firstEvent: String) async throws -> StreamingBackend {
        let opened = NIOLockedValueBox<[any Channel]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        EventStream(first: firstEvent) { opened.withLockedValue { $0.append(channel) } }
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return StreamingBackend(channel: channel, streams: opened)
    }

    /// Sends one more event on every open stream, and ends them when `last`.
    public func send(_ event: String, last: Bool) async throws {
        for stream in streams.withLockedValue({ $0 }) {
            let buffer = stream.allocator.buffer(string: "data: \(event)\n\n")
            try await stream.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer)))
            if last { try await stream.writeAndFlush(HTTPServerResponsePart.end(nil)) }
        }
    }

    /// Closes every open stream mid-response, as a sandbox that dies would.
    public func cut() async {
        for stream in streams.withLockedValue({ $0 }) { try? await stream.close() }
    }

    public func stop() async {
        try? await channel.close()
    }
}

private final class EventStream: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let first: String
    private let opened: () -> Void

    init(first: String, opened: @escaping () -> Void) {
        self.first = first
        self.opened = opened
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let head = HTTPResponseHead(
            version: .http1_1,
            status: .ok,
            headers: HTTPHeaders([("Content-Type", "text/event-stream")])
        )
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let buffer = context.channel.allocator.buffer(string: "data: \(first)\n\n")
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        opened()
    }
}
