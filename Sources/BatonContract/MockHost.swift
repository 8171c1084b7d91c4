import BatonJSON
import BatonRPC
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A stand-in host for testing a plugin: it answers the protocol's methods from a script the
/// kit controls, records every line both ways, and can push notifications or drop a
/// connection at any moment.
public final class MockHost: Sendable {
    /// One message a plugin sent.
    public struct Inbound: Sendable {
        public var connection: Int
        public var method: String
        public var params: JSON
    }

    /// How the stand-in answers a method, given its params and connection: a result or an
    /// error, or nil for "method not found".
    public typealias Responder =
        @Sendable (_ method: String, _ params: JSON, _ connection: Int) -> Result<
            JSON, RPCError
        >?

    public let socketPath: String
    public let inbound: AsyncStream<Inbound>
    private let input: AsyncStream<Inbound>.Continuation
    private let state = NIOLockedValueBox(State())
    private let responder: Responder
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    private struct State {
        var connections: [Int: any Channel] = [:]
        var nextConnection = 0
        /// Every line both ways, for a failing case to show.
        var transcript: [String] = []
    }

    public init(socketPath: String, responder: @escaping Responder) {
        self.socketPath = socketPath
        self.responder = responder
        (inbound, input) = AsyncStream.makeStream(of: Inbound.self)
    }

    public func start() async throws {
        try UnixSocketFile.prepare(socketPath)
        let host = self
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let id = host.register(channel)
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 1 << 20))
                    )
                    try channel.pipeline.syncOperations.addHandler(MockConnection(host: host, id: id))
                }
            }
            .bind(unixDomainSocketPath: socketPath)
            .get()
        channel.withLockedValue { $0 = server }
    }

    public func stop() async {
        let server = channel.withLockedValue { $0 }
        let connections = state.withLockedValue { Array($0.connections.values) }
        for connection in connections { try? await connection.close() }
        try? await server?.close()
        input.finish()
    }

    /// Goes away for `down`, as a restarting host does: the listener and every connection
    /// closed and the socket file gone; then it listens again on the same path.
    public func restart(after down: Duration) async throws {
        let server = channel.withLockedValue { $0 }
        let connections = state.withLockedValue { Array($0.connections.values) }
        for connection in connections { try? await connection.close() }
        try? await server?.close()
        unlink(socketPath)
        try await Task.sleep(for: down)
        try await start()
    }

    /// Every line exchanged so far, `→` for what the plugin sent and `←` for answers.
    public var transcript: [String] { state.withLockedValue { $0.transcript } }

    public var openConnections: [Int] { state.withLockedValue { $0.connections.keys.sorted() } }

    /// Sends a notification on `connection`.
    public func notify(_ connection: Int, _ method: String, _ params: JSON) {
        let message: JSON = ["jsonrpc": "2.0", "method": .string(method), "params": params]
        send(message, on: connection)
    }

    /// Closes `connection`, as a host that went away would.
    public func drop(_ connection: Int) {
        let channel = state.withLockedValue { $0.connections[connection] }
        channel?.close(promise: nil)
    }

    // MARK: Called by connections

    fileprivate func register(_ channel: any Channel) -> Int {
        state.withLockedValue { state in
            state.nextConnection += 1
            state.connections[state.nextConnection] = channel
            channel.closeFuture.whenComplete { [id = state.nextConnection] _ in
                _ = self.state.withLockedValue { $0.connections.removeValue(forKey: id) }
            }
            return state.nextConnection
        }
    }

    fileprivate func received(_ line: String, on connection: Int) {
        state.withLockedValue { $0.transcript.append("→ \(line)") }
        guard let message = try? JSON.parse(line), let method = message["method"]?.stringValue else {
            return send(Self.error(-32700, "Parse error", id: .null), on: connection)
        }
        let params = message["params"] ?? .null
        // The responder's state changes first: a case that sees the call may rely on them.
        let answer = responder(method, params, connection)
        input.yield(Inbound(connection: connection, method: method, params: params))
        guard let id = message["id"] else { return }  // a notification
        switch answer {
        case .success(let result)?: send(["jsonrpc": "2.0", "result": result, "id": id], on: connection)
        case .failure(let error)?: send(Self.error(Int64(error.code), error.message, id: id), on: connection)
        case nil: send(Self.error(-32601, "Method not found: \(method)", id: id), on: connection)
        }
    }

    private func send(_ message: JSON, on connection: Int) {
        guard let text = try? message.serializedString(),
            let channel = state.withLockedValue({ $0.connections[connection] })
        else { return }
        state.withLockedValue { $0.transcript.append("← \(text)") }
        channel.writeAndFlush(channel.allocator.buffer(string: text + "\n"), promise: nil)
    }

    private static func error(_ code: Int64, _ message: String, id: JSON) -> JSON {
        ["jsonrpc": "2.0", "error": ["code": .int(code), "message": .string(message)], "id": id]
    }
}

private final class MockConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let host: MockHost
    private let id: Int

    init(host: MockHost, id: Int) {
        self.host = host
        self.id = id
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        host.received(String(buffer: unwrapInboundIn(data)), on: id)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
