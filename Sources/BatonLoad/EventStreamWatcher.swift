import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Holds one server-sent event stream open and counts its events, to show whether a
/// stream opened before a rollover lives through it.
public final class EventStreamWatcher: Sendable {
    public struct State: Sendable {
        public var events = 0
        public var lastEvent: ContinuousClock.Instant?
        /// Why the stream ended, once it has.
        public var ended: String?
        public var firstLine: String?
        public var lastLine: String?
    }

    private let state: NIOLockedValueBox<State>
    private let channel: any Channel

    private init(channel: any Channel, state: NIOLockedValueBox<State>) {
        self.channel = channel
        self.state = state
    }

    public var current: State { state.withLockedValue { $0 } }

    public static func open(
        host: String,
        port: Int,
        hostHeader: String,
        path: String,
        tls: LoadTLS? = nil
    ) async throws -> EventStreamWatcher {
        let shared = NIOLockedValueBox(State())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try LoadTLS.add(tls, for: hostHeader, to: channel)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(EventCounter(state: shared))
                }
            }
            .connect(host: host, port: port)
            .get()
        let watcher = EventStreamWatcher(channel: channel, state: shared)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        headers.add(name: "Accept", value: "text/event-stream")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
        return watcher
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Counts `data:` lines as they arrive.
private final class EventCounter: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let state: NIOLockedValueBox<EventStreamWatcher.State>

    init(state: NIOLockedValueBox<EventStreamWatcher.State>) {
        self.state = state
    }

    private func update(_ change: (inout EventStreamWatcher.State) -> Void) {
        state.withLockedValue(change)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head) where head.status != .ok:
            update { $0.ended = "the stream was refused with \(head.status.code)" }
        case .head:
            break
        case .body(let buffer):
            let text = String(buffer: buffer)
            let lines = text.split(separator: "\n").filter { $0.hasPrefix("data:") }
            guard !lines.isEmpty else { return }
            update { state in
                state.events += lines.count
                state.lastEvent = .now
                if state.firstLine == nil { state.firstLine = String(lines[0]) }
                state.lastLine = String(lines[lines.count - 1])
            }
        case .end:
            update { $0.ended = $0.ended ?? "the stream ended" }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        update { $0.ended = $0.ended ?? "the connection closed" }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        update { $0.ended = $0.ended ?? "\(error)" }
        context.close(promise: nil)
    }
}
