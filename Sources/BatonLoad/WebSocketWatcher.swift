import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Holds one WebSocket open through the ingress and sends a message every `interval`; the
/// app echoes each one. Shows whether a WebSocket opened before a rollover lives through it.
public final class WebSocketWatcher: Sendable {
    public struct State: Sendable {
        public var upgraded = false
        public var sent = 0
        public var echoed = 0
        public var ended: String?
    }

    private let state: NIOLockedValueBox<State>
    private let channel: any Channel
    private let pinger: Task<Void, Never>

    private init(channel: any Channel, state: NIOLockedValueBox<State>, pinger: Task<Void, Never>) {
        self.channel = channel
        self.state = state
        self.pinger = pinger
    }

    public var current: State { state.withLockedValue { $0 } }

    public static func open(
        host: String,
        port: Int,
        hostHeader: String,
        path: String,
        interval: Duration = .milliseconds(200),
        tls: LoadTLS? = nil
    ) async throws
        -> WebSocketWatcher
    {
        let shared = NIOLockedValueBox(State())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try LoadTLS.add(tls, for: hostHeader, to: channel)
                    try channel.pipeline.syncOperations.addHandler(EchoCounter(state: shared))
                }
            }
            .connect(host: host, port: port)
            .get()
        let upgrade =
            "GET \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try await channel.writeAndFlush(channel.allocator.buffer(string: upgrade))
        // Held by the watcher and cancelled by `close()`.
        let pinger = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard shared.withLockedValue({ $0.upgraded && $0.ended == nil }) else { continue }
                // A masked text frame "ping" with a zero mask, as a client must send.
                let frame: [UInt8] = [0x81, 0x84, 0, 0, 0, 0] + Array("ping".utf8)
                shared.withLockedValue { $0.sent += 1 }
                channel.writeAndFlush(channel.allocator.buffer(bytes: frame), promise: nil)
            }
        }
        return WebSocketWatcher(channel: channel, state: shared, pinger: pinger)
    }

    public func close() async {
        pinger.cancel()
        try? await channel.close()
    }
}

/// Counts the 101 and then each echoed "ping" frame.
private final class EchoCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let state: NIOLockedValueBox<WebSocketWatcher.State>
    private var pending = ""

    init(state: NIOLockedValueBox<WebSocketWatcher.State>) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += String(decoding: unwrapInboundIn(data).readableBytesView, as: UTF8.self)
        if !state.withLockedValue({ $0.upgraded }), let end = pending.range(of: "\r\n\r\n") {
            let upgraded = pending.hasPrefix("HTTP/1.1 101")
            state.withLockedValue {
                $0.upgraded = upgraded
                if !upgraded { $0.ended = "the upgrade was refused" }
            }
            pending = String(pending[end.upperBound...])
        }
        let echoes = pending.components(separatedBy: "ping").count - 1
        if echoes > 0 {
            state.withLockedValue { $0.echoed += echoes }
            pending = String(pending.suffix(3))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.withLockedValue { $0.ended = $0.ended ?? "the connection closed" }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        state.withLockedValue { $0.ended = $0.ended ?? "\(error)" }
        context.close(promise: nil)
    }
}
