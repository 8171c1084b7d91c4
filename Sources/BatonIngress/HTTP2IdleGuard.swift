import NIOCore
import NIOHTTP2

/// The HTTP/1.1 idle timeout for an HTTP/2 connection, counted in open streams rather than
/// requests: once none has been open for `timeout`, the connection is told to quiesce, and
/// HTTP/2 says GOAWAY before it closes.
final class HTTP2IdleGuard: NIOHTTP2StreamDelegate {
    private struct State {
        var open = 0
        var timer: Scheduled<Void>?
    }

    private let timeout: TimeAmount
    private let channel: any Channel
    /// Touched only on the connection's event loop, where HTTP/2 calls its delegate.
    private let state: NIOLoopBoundBox<State>

    /// Must be made on `channel`'s event loop.
    init(timeout: TimeAmount, channel: any Channel) {
        self.timeout = timeout
        self.channel = channel
        state = NIOLoopBoundBox(State(), eventLoop: channel.eventLoop)
        arm()
    }

    func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
        state.value.open += 1
        state.value.timer?.cancel()
        state.value.timer = nil
    }

    func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
        state.value.open -= 1
        if state.value.open == 0 { arm() }
    }

    private func arm() {
        let channel = self.channel
        state.value.timer = channel.eventLoop.scheduleTask(in: timeout) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }
}
