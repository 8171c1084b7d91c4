import BatonHTTP1
import NIOCore

/// A part of what a client sent, in order.
enum ClientPart {
    case head(RequestHead, MessageFraming)
    case body(ByteBuffer)
    case end
    /// The bytes from here on are not HTTP the proxy will forward; nothing follows. In a
    /// request's body, it ends that request; else it is the next request, and its answer says
    /// `minorVersion`.
    case violation(HTTP1Violation, inBody: Bool, minorVersion: Int)

    /// Whether this part begins a request, so waits while another is in flight.
    var beginsRequest: Bool {
        switch self {
        case .head: true
        case .violation(_, let inBody, _): !inBody
        case .body, .end: false
        }
    }
}

/// Reads a client's requests from its bytes with Baton's own parser and hands them on as
/// `ClientPart`s. After a request that asks to switch protocols it reads no further: what
/// follows may be another protocol's bytes, and goes on as bytes when this handler leaves.
final class ClientCodec: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ClientPart

    private enum State {
        case reading
        /// Reading a request that asks to switch protocols: nothing after its end is HTTP.
        case readingUpgrade
        /// Past such a request's end: bytes are kept for the protocol switched to, if any.
        case upgraded
        /// After a violation: nothing more is read.
        case failed
    }

    private var decoder: RequestDecoder
    private var state = State.reading
    private var received = Cumulation()

    init(limits: HeadLimits) {
        decoder = RequestDecoder(limits: limits)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.append(unwrapInboundIn(data))
        decode(context: context)
    }

    private func decode(context: ChannelHandlerContext) {
        while state == .reading || state == .readingUpgrade, var bytes = received.take() {
            let part: MessagePart<RequestHead>?
            let inBody = !decoder.isBetweenRequests
            do {
                part = try decoder.next(&bytes)
            } catch {
                received.putBack(bytes)
                state = .failed
                let violation = ClientPart.violation(error, inBody: inBody, minorVersion: decoder.minorVersion)
                context.fireChannelRead(wrapInboundOut(violation))
                return
            }
            received.putBack(bytes)
            guard let part else { break }
            switch part {
            case .head(let head, let framing):
                if head.upgrade != nil { state = .readingUpgrade }
                context.fireChannelRead(wrapInboundOut(.head(head, framing)))
            case .body(let body):
                context.fireChannelRead(wrapInboundOut(.body(body)))
            case .end:
                if state == .readingUpgrade { state = .upgraded }
                context.fireChannelRead(wrapInboundOut(.end))
            }
        }
        received.compact()
    }

    /// Bytes past a request that switched protocols go on as bytes, to the tunnel half that
    /// takes this handler's place; a connection torn down keeps them.
    func handlerRemoved(context: ChannelHandlerContext) {
        if state == .upgraded, context.channel.isActive, let rest = received.takeRest() {
            context.fireChannelRead(NIOAny(rest))
        }
    }
}
