import NIOCore

/// Stands behind the TLS handler of a connection that lets its client half-close: once the
/// host closes the connection, half-closure is over. Closing, the TLS handler sends its
/// close_notify and waits for the client's; while `allowRemoteHalfClosure` is still set it
/// takes that answer (and the FIN after it) for a half-closure and keeps the connection open
/// until its close timeout (`ingress.tlsCloseTimeoutMs`), where the answer should end it.
public final class TLSCloseEndsHalfClosure: ChannelOutboundHandler {
    public typealias OutboundIn = NIOAny

    public init() {}

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all {
            // A socket channel answers options at once on its own loop; anything else keeps
            // the timeout as its bound.
            try? context.channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: false)
        }
        context.close(mode: mode, promise: promise)
    }
}
