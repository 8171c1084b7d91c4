import BatonJSON
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A notification the host pushed to this client.
public struct RPCNotification: Sendable, Hashable {
    public var method: String
    public var params: JSON?

    public init(method: String, params: JSON?) {
        self.method = method
        self.params = params
    }
}

public enum RPCClientError: Error, Sendable, CustomStringConvertible {
    /// The connection ended before the answer came; `lastError` is an error the host
    /// sent without an id just before (a refusal, say).
    case connectionClosed(lastError: RPCError?)
    case malformedResponse(String)

    public var description: String {
        switch self {
        case .connectionClosed(let error?): "the host closed the connection: \(error.message)"
        case .connectionClosed(nil): "the host closed the connection"
        case .malformedResponse(let detail): "the host sent a malformed response: \(detail)"
        }
    }
}

/// A JSON-RPC client on the host's unix socket: calls are matched to responses by id,
/// so many may be in flight at once, and pushed notifications arrive on `notifications`.
public final class RPCClient: Sendable {
    private let channel: any Channel
    private let nextID = NIOLockedValueBox<Int64>(0)
    public let notifications: AsyncStream<RPCNotification>

    private init(channel: any Channel, notifications: AsyncStream<RPCNotification>) {
        self.channel = channel
        self.notifications = notifications
    }

    public static func connect(
        socketPath: String,
        maxLineBytes: Int = 1 << 20,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RPCClient {
        let (stream, continuation) = AsyncStream.makeStream(of: RPCNotification.self, bufferingPolicy: .unbounded)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLineBytes: maxLineBytes)))
                    try pipeline.addHandler(RPCClientHandler(notifications: continuation))
                }
            }
            .connect(unixDomainSocketPath: socketPath)
            .get()
        return RPCClient(channel: channel, notifications: stream)
    }

    /// Opens the session: the first call on every connection.
    @discardableResult
    public func hello(role: RPCRole, client: RPCProgramInfo, token: String? = nil) async throws -> JSON {
        var params: JSONObject = [
            "protocol": .string(ProtocolVersion.current.description),
            "role": .string(role.rawValue),
            "client": ["name": .string(client.name), "version": .string(client.version)],
        ]
        params["token"] = token.map(JSON.string)
        return try await call(RPCHandshake.helloMethod, .object(params))
    }

    /// Calls `method` and returns its result; an error response is thrown as `RPCError`.
    public func call(_ method: String, _ params: JSON? = nil) async throws -> JSON {
        try await send(method, params).result()
    }

    /// Writes a call and returns once it is written, before its answer comes: calls sent one
    /// after another take effect in that order (PROTOCOL.md §3, Ordering), so a client can
    /// pipeline them.
    public func send(_ method: String, _ params: JSON? = nil) async throws -> RPCPendingAnswer {
        let id = RPCID.int(
            nextID.withLockedValue { value in
                value += 1
                return value
            }
        )
        let request = RPCRequest(method: method, params: params, id: id)
        let promise = channel.eventLoop.makePromise(of: Result<JSON, RPCError>.self)
        // A call written to a connection that already closed gets no answer: it fails now.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { promise.fail($0) }
        channel.writeAndFlush(
            RPCClientHandler.Outbound.request(id, try request.json.serialized(), promise),
            promise: written
        )
        try await written.futureResult.get()
        return RPCPendingAnswer(answer: promise.futureResult)
    }

    /// Sends a notification: no answer comes back, not even an error.
    public func notify(_ method: String, _ params: JSON? = nil) async throws {
        let request = RPCRequest(method: method, params: params, id: nil)
        try await channel.writeAndFlush(RPCClientHandler.Outbound.notification(try request.json.serialized()))
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Matches responses to waiting calls and forwards notifications; on close, every
/// waiting call fails.
final class RPCClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Outbound
    typealias OutboundOut = ByteBuffer

    enum Outbound {
        case request(RPCID, [UInt8], EventLoopPromise<Result<JSON, RPCError>>)
        case notification([UInt8])
    }

    private var waiting: [RPCID: EventLoopPromise<Result<JSON, RPCError>>] = [:]
    private var lastUnmatchedError: RPCError?
    private let notifications: AsyncStream<RPCNotification>.Continuation

    init(notifications: AsyncStream<RPCNotification>.Continuation) {
        self.notifications = notifications
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes: [UInt8]
        switch unwrapOutboundIn(data) {
        case .request(let id, let line, let answer):
            waiting[id] = answer
            bytes = line
        case .notification(let line):
            bytes = line
        }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count + 1)
        buffer.writeBytes(bytes)
        buffer.writeInteger(UInt8(ascii: "\n"))
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        guard let message = try? line.withUnsafeReadableBytes({ try JSON.parse($0) }) else {
            context.fireErrorCaught(RPCClientError.malformedResponse(String(buffer: line)))
            return
        }
        if let method = message["method"]?.stringValue, message["id"] == nil {
            notifications.yield(RPCNotification(method: method, params: message["params"]))
            return
        }
        let error = message["error"].flatMap(RPCError.init(json:))
        guard let rawID = message["id"], let id = RPCID(json: rawID), let answer = waiting.removeValue(forKey: id)
        else {
            lastUnmatchedError = error ?? lastUnmatchedError
            return
        }
        if let error {
            answer.succeed(.failure(error))
        } else if let result = message["result"] {
            answer.succeed(.success(result))
        } else {
            answer.fail(RPCClientError.malformedResponse("a response with neither result nor error"))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is LineTooLong {
            context.fireErrorCaught(RPCClientError.malformedResponse("a line longer than the client's limit"))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let error = RPCClientError.connectionClosed(lastError: lastUnmatchedError)
        for answer in waiting.values { answer.fail(error) }
        waiting.removeAll()
        notifications.finish()
        context.fireChannelInactive()
    }
}

/// The answer to a call `RPCClient.send` wrote.
public struct RPCPendingAnswer: Sendable {
    let answer: EventLoopFuture<Result<JSON, RPCError>>
    private let arrived = NIOLockedValueBox(false)

    init(answer: EventLoopFuture<Result<JSON, RPCError>>) {
        self.answer = answer
        answer.whenComplete { [arrived] _ in arrived.withLockedValue { $0 = true } }
    }

    /// Whether the answer came already.
    public var isAnswered: Bool { arrived.withLockedValue { $0 } }

    /// The call's result; an error response is thrown as `RPCError`.
    public func result() async throws -> JSON {
        try await answer.get().get()
    }
}
