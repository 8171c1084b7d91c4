import BatonCore
import NIOCore

/// Relays raw bytes between an upgraded client connection and its sandbox connection, with
/// backpressure both ways. Both channels live on one event loop, so the two halves call
/// each other directly. When either side closes, both do, and the lease is given back.
final class TunnelHalf: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What runs when the tunnel ends, shared by both halves so it runs once however the
    /// two closes interleave (both live on one event loop).
    private final class Ending {
        private var action: (() -> Void)?

        init(_ action: @escaping () -> Void) {
            self.action = action
        }

        func run() {
            let action = self.action
            self.action = nil
            action?()
        }
    }

    private var partner: TunnelHalf?
    private var context: ChannelHandlerContext?
    private let ending: Ending

    /// Two halves that relay to each other; `onClose` runs once, when the tunnel ends.
    static func pair(onClose: @escaping () -> Void) -> (TunnelHalf, TunnelHalf) {
        let ending = Ending(onClose)
        let first = TunnelHalf(ending: ending)
        let second = TunnelHalf(ending: ending)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    private init(ending: Ending) {
        self.ending = ending
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !context.channel.isActive { partner?.close() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        partner?.setReading(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.close()
        ending.run()
        context.fireChannelInactive()
    }

    /// A side that finished sending (the ingress allows half-closure) ends the tunnel: a
    /// WebSocket peer that sends FIN is gone, and waiting on the other side would hold its
    /// lease, and its sandbox's drain, until that side gives up.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            partner?.close()
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func close() {
        context?.close(promise: nil)
    }

    private func setReading(_ on: Bool) {
        guard let context else { return }
        context.channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
        if on { context.read() }
    }
}
