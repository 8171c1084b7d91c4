import NIOCore
import NIOPosix

/// For tests: a TCP client that sends whatever bytes it is given and reads what the
/// server sends, either until some text has arrived or until the server closes.
public final class RawTCPClient: Sendable {
    private let channel: any Channel
    private let collector: NIOLoopBound<Collector>

    private init(channel: any Channel, collector: NIOLoopBound<Collector>) {
        self.channel = channel
        self.collector = collector
    }

    public static func connect(port: Int) async throws -> RawTCPClient {
        try await connect { $0.connect(host: "127.0.0.1", port: port) }
    }

    /// The same over a unix socket, such as the host's RPC socket.
    public static func connect(unixPath: String) async throws -> RawTCPClient {
        try await connect { $0.connect(unixDomainSocketPath: unixPath) }
    }

    private static func connect(_ dial: (ClientBootstrap) -> EventLoopFuture<any Channel>) async throws -> RawTCPClient
    {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let collector = try await loop.submit { NIOLoopBound(Collector(loop: loop), eventLoop: loop) }.get()
        let bootstrap = ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(collector.value)
                }
            }
        let channel = try await dial(bootstrap).get()
        return RawTCPClient(channel: channel, collector: collector)
    }

    public func send(_ text: String) async throws {
        try await send(bytes: Array(text.utf8))
    }

    public func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// Everything received so far once it contains `text`; what it returns is consumed.
    public func read(until text: String) async throws -> String {
        let collector = self.collector
        return try await channel.eventLoop.flatSubmit { collector.value.wait(for: text) }.get()
    }

    /// Everything the server sent, once it closed the connection.
    public func untilClosed() async throws -> String {
        let collector = self.collector
        return try await channel.eventLoop.flatSubmit { collector.value.closed.futureResult }.get()
    }

    /// Sends FIN: nothing more from this side, while the server's answer may still come.
    public func closeOutput() async throws {
        try await channel.close(mode: .output)
    }

    public func close() async {
        try? await channel.close()
    }
}

private final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct Closed: Error {}

    let closed: EventLoopPromise<String>
    private let loop: any EventLoop
    private var text = ""
    private var waiter: (text: String, promise: EventLoopPromise<String>)?
    private var connection = Connection.open

    private enum Connection {
        case open
        case ended
    }

    init(loop: any EventLoop) {
        self.loop = loop
        closed = loop.makePromise()
    }

    func wait(for wanted: String) -> EventLoopFuture<String> {
        let promise = loop.makePromise(of: String.self)
        waiter = (wanted, promise)
        deliver()
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
        deliver()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection = .ended
        deliver()
        closed.succeed(text)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Fails a wait that the text cannot meet once the connection has ended, whenever the wait began.
    private func deliver() {
        guard let (wanted, promise) = waiter else { return }
        guard let range = text.firstRange(of: wanted) else {
            if connection == .ended {
                waiter = nil
                promise.fail(Closed())
            }
            return
        }
        waiter = nil
        let taken = String(text[..<range.upperBound])
        text = String(text[range.upperBound...])
        promise.succeed(taken)
    }
}
