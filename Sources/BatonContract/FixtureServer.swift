import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The kit's own HTTP app: it answers every request 200 with its name. The scheduler kit
/// has plugins run it as their sandbox (`baton contract fixture-app`, on `$PORT`); the
/// router kit runs a few in-process as backends, and makes them misbehave on purpose.
public final class FixtureServer: Sendable {
    /// What it does with a whole request.
    public enum Behavior: Sendable {
        case answer
        /// Closes the connection without a word: a request lost after it was sent.
        case drop
        /// Answers only once `answerHeld()` is called.
        case hold
    }

    /// What it saw: the methods of the requests it read whole, in order, and how many it
    /// held at once at most.
    public struct Seen: Sendable {
        public var methods: [String] = []
        public var held = 0
        public var mostHeld = 0
    }

    public let name: String
    public let port: Int
    private let channel: any Channel
    private let state: NIOLockedValueBox<State>

    struct State {
        var behavior = Behavior.answer
        var seen = Seen()
        var waiting: [EventLoopPromise<Void>] = []
    }

    private init(name: String, port: Int, channel: any Channel, state: NIOLockedValueBox<State>) {
        self.name = name
        self.port = port
        self.channel = channel
        self.state = state
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public static func start(
        name: String,
        port: Int = 0,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> FixtureServer {
        let state = NIOLockedValueBox(State())
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
                    try channel.pipeline.syncOperations.addHandler(NameResponder(name: name, state: state))
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        return FixtureServer(name: name, port: channel.localAddress?.port ?? port, channel: channel, state: state)
    }

    public func behave(_ behavior: Behavior) {
        state.withLockedValue { $0.behavior = behavior }
    }

    public var seen: Seen { state.withLockedValue { $0.seen } }

    /// Answers every request held so far.
    public func answerHeld() {
        for promise in state.withLockedValue({ state in
            defer { state.waiting = [] }
            return state.waiting
        }) {
            promise.succeed()
        }
    }

    public func stop() async {
        answerHeld()
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
    private let state: NIOLockedValueBox<FixtureServer.State>
    private var keepAlive = true
    private var method = ""

    init(name: String, state: NIOLockedValueBox<FixtureServer.State>) {
        self.name = name
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            method = head.method.rawValue
        case .body:
            break
        case .end:
            let behavior = state.withLockedValue { state -> FixtureServer.Behavior in
                state.seen.methods.append(method)
                return state.behavior
            }
            switch behavior {
            case .answer: answer(context)
            case .drop: context.close(promise: nil)
            case .hold:
                let promise = context.eventLoop.makePromise(of: Void.self)
                state.withLockedValue { state in
                    state.waiting.append(promise)
                    state.seen.held += 1
                    state.seen.mostHeld = max(state.seen.mostHeld, state.seen.held)
                }
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                promise.futureResult.whenSuccess {
                    bound.value.0.state.withLockedValue { $0.seen.held -= 1 }
                    bound.value.0.answer(bound.value.1)
                }
            }
        }
    }

    private func answer(_ context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "\(name.utf8.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
            promise: nil
        )
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: name)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !keepAlive { context.close(promise: nil) }
    }
}
