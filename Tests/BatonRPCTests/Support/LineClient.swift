import BatonJSON
import NIOCore
import NIOPosix

@testable import BatonRPC

/// A raw test client: it writes whatever bytes a test gives it and hands back the
/// host's lines one at a time, so a test can send what no well-behaved client would.
final class LineClient: Sendable {
    struct Timeout: Error, CustomStringConvertible {
        var description: String { "no line from the host in time" }
    }

    struct Closed: Error {}

    let channel: any Channel
    private let collector: NIOLoopBound<LineCollector>

    private init(channel: any Channel, collector: NIOLoopBound<LineCollector>) {
        self.channel = channel
        self.collector = collector
    }

    /// Connects; with `reading: false` the client never reads, like a stuck peer.
    static func connect(_ path: String, reading: Bool = true) async throws -> LineClient {
        let group = MultiThreadedEventLoopGroup.singleton
        let loop = group.next()
        let collector = try await loop.submit { NIOLoopBound(LineCollector(), eventLoop: loop) }.get()
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(.autoRead, value: reading)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 64 << 20))
                    )
                    try channel.pipeline.syncOperations.addHandler(collector.value)
                }
            }
            .connect(unixDomainSocketPath: path)
            .get()
        return LineClient(channel: channel, collector: collector)
    }

    func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// Sends `line` plus a newline.
    func sendLine(_ line: String) async throws {
        try await send(line + "\n")
    }

    /// The next line from the host; throws `Closed` at end of stream, `Timeout` if
    /// nothing comes within `seconds`.
    func nextLine(within seconds: Int64 = 10) async throws -> String {
        let collector = self.collector
        return try await channel.eventLoop.flatSubmit {
            collector.value.next(timeout: .seconds(seconds), on: collector.eventLoop)
        }.get()
    }

    func nextJSON(within seconds: Int64 = 10) async throws -> JSON {
        try JSON.parse(try await nextLine(within: seconds))
    }

    /// Sends `line` and returns the host's next line as JSON.
    func exchange(_ line: String) async throws -> JSON {
        try await sendLine(line)
        return try await nextJSON()
    }

    /// Opens a session with `host.hello`.
    @discardableResult
    func hello(role: String = "admin", token: String? = nil) async throws -> JSON {
        try await exchange(helloLine(role: role, token: token))
    }

    func shutdownWrites() async throws {
        try await channel.close(mode: .output)
    }

    func close() async {
        try? await channel.close()
    }

    /// Completes when the host has closed the connection.
    func waitUntilClosed() async throws {
        try await channel.closeFuture.get()
    }
}

/// Queues lines as they arrive and hands them to waiters in order.
final class LineCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var lines: [String] = []
    private var waiters: [EventLoopPromise<String>] = []
    private var ended = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = String(buffer: unwrapInboundIn(data))
        if waiters.isEmpty {
            lines.append(line)
        } else {
            waiters.removeFirst().succeed(line)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        ended = true
        for waiter in waiters { waiter.fail(LineClient.Closed()) }
        waiters.removeAll()
    }

    func next(timeout: TimeAmount, on loop: any EventLoop) -> EventLoopFuture<String> {
        if !lines.isEmpty { return loop.makeSucceededFuture(lines.removeFirst()) }
        if ended { return loop.makeFailedFuture(LineClient.Closed()) }
        let promise = loop.makePromise(of: String.self)
        waiters.append(promise)
        let timer = loop.scheduleTask(in: timeout) { promise.fail(LineClient.Timeout()) }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }
}
