import NIOCore
import NIOPosix
import NIOSSL

/// For tests: HTTP/2 frames written by hand over TLS (ALPN h2), for what no polite client
/// sends: thousands of streams at once, a stream reset as soon as it opens. It records every
/// frame the server sends back.
public final class RawHTTP2Client: Sendable {
    public struct Frame: Sendable {
        public var type: UInt8
        public var flags: UInt8
        public var stream: UInt32
        public var payload: [UInt8]

        public static let data: UInt8 = 0x0
        public static let headers: UInt8 = 0x1
        public static let rstStream: UInt8 = 0x3
        public static let settings: UInt8 = 0x4
        public static let goAway: UInt8 = 0x7

        /// The error code of a RST_STREAM or GOAWAY.
        public var errorCode: UInt32? {
            let offset = type == Self.goAway ? 4 : 0
            guard type == Self.rstStream || type == Self.goAway, payload.count >= offset + 4 else { return nil }
            return payload[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
    }

    private let channel: any Channel
    private let collector: NIOLoopBound<FrameCollector>

    private init(channel: any Channel, collector: NIOLoopBound<FrameCollector>) {
        self.channel = channel
        self.collector = collector
    }

    /// Connects and sends the client preface and an empty SETTINGS.
    public static func connect(port: Int, tls: TestHTTPClient.TLS) async throws -> RawHTTP2Client {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let collector = try await loop.submit { NIOLoopBound(FrameCollector(loop: loop), eventLoop: loop) }.get()
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try tls.handler(protocols: ["h2"]))
                    try channel.pipeline.syncOperations.addHandler(collector.value)
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        let client = RawHTTP2Client(channel: channel, collector: collector)
        try await client.send(
            Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + frame(type: Frame.settings, stream: 0, [])
        )
        return client
    }

    public func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// A GET of `path` for `authority` on `stream`, with END_STREAM: the header block is
    /// HPACK's static table and literals, never indexed.
    public static func get(stream: UInt32, authority: String, path: String = "/") -> [UInt8] {
        var block: [UInt8] = [0x82, 0x87]  // :method GET, :scheme https
        block += literal(index: 4, path) + literal(index: 1, authority)  // :path, :authority
        return frame(type: Frame.headers, flags: 0x5, stream: stream, block)  // END_STREAM | END_HEADERS
    }

    public static func rstStream(stream: UInt32, code: UInt32 = 0x8) -> [UInt8] {
        frame(type: Frame.rstStream, stream: stream, bigEndian(code))
    }

    /// The frames received, once `condition` holds for them and whether the server closed
    /// the connection; checked as each read arrives.
    public func until(_ condition: @escaping @Sendable ([Frame], _ closed: Bool) -> Bool) async throws -> [Frame] {
        let collector = self.collector
        return try await channel.eventLoop.flatSubmit { collector.value.wait(until: condition) }.get()
    }

    /// Completes when the server closes the connection.
    public var closed: EventLoopFuture<Void> { channel.closeFuture }

    public func close() async {
        try? await channel.close()
    }

    private static func literal(index: UInt8, _ value: String) -> [UInt8] {
        precondition(value.utf8.count < 127)
        return [index, UInt8(value.utf8.count)] + Array(value.utf8)  // literal without indexing, name indexed
    }

    private static func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        Array(bigEndian(UInt32(payload.count)).dropFirst()) + [type, flags] + bigEndian(stream) + payload
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}

private final class FrameCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var frames: [RawHTTP2Client.Frame] = []
    private var connection = Connection.open
    private var pending = ByteBuffer()
    private var waiters:
        [(
            condition: @Sendable ([RawHTTP2Client.Frame], Bool) -> Bool,
            promise: EventLoopPromise<[RawHTTP2Client.Frame]>
        )] = []
    private let loop: any EventLoop

    private enum Connection {
        case open
        case closed
    }

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func wait(
        until condition: @escaping @Sendable ([RawHTTP2Client.Frame], Bool) -> Bool
    ) -> EventLoopFuture<[RawHTTP2Client.Frame]> {
        let promise = loop.makePromise(of: [RawHTTP2Client.Frame].self)
        waiters.append((condition, promise))
        deliver()
        return promise.futureResult
    }

    private func deliver() {
        let closed = connection == .closed
        let (met, waiting) = (
            waiters.filter { $0.condition(frames, closed) }, waiters.filter { !$0.condition(frames, closed) }
        )
        waiters = waiting
        for waiter in met { waiter.promise.succeed(frames) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        pending.writeBuffer(&bytes)
        while pending.readableBytes >= 9, let length = pending.getInteger(at: pending.readerIndex, as: UInt32.self) {
            let payloadLength = Int(length >> 8)
            guard pending.readableBytes >= 9 + payloadLength else { break }
            pending.moveReaderIndex(forwardBy: 3)
            let type: UInt8 = pending.readInteger()!
            let flags: UInt8 = pending.readInteger()!
            let stream: UInt32 = pending.readInteger()! & 0x7FFF_FFFF
            let payload = pending.readBytes(length: payloadLength)!
            frames.append(RawHTTP2Client.Frame(type: type, flags: flags, stream: stream, payload: payload))
        }
        deliver()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection = .closed
        deliver()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
