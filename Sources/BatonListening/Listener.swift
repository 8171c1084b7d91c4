import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A listening socket of the host: bound here, or taken over from the host before it (a
/// descriptor it handed over), and held until closed. The RPC socket, the ingress and the
/// metrics endpoint each hold one.
public final class Listener: Sendable {
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    public init() {}

    /// Accepts with `bootstrap` on `inherited` when given, else on what `bind` binds.
    @discardableResult
    public func open(
        _ bootstrap: ServerBootstrap,
        inheriting inherited: Int32?,
        bind: (ServerBootstrap) async throws -> any Channel
    ) async throws -> any Channel {
        let bound: any Channel
        if let inherited {
            bound = try await bootstrap.withBoundSocket(inherited).get()
        } else {
            bound = try await bind(bootstrap)
        }
        channel.withLockedValue { $0 = bound }
        return bound
    }

    public var localAddress: SocketAddress? { channel.withLockedValue { $0?.localAddress } }

    /// Completes when the listening socket closes.
    public var closed: EventLoopFuture<Void>? { channel.withLockedValue { $0?.closeFuture } }

    /// Stops accepting; false when it was not open.
    @discardableResult
    public func close() async -> Bool {
        let bound = channel.withLockedValue { current in
            defer { current = nil }
            return current
        }
        guard let bound else { return false }
        try? await bound.close()
        return true
    }
}
