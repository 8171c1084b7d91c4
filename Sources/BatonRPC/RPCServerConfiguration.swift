import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Everything that shapes an RPC server: where it listens, who may connect, and the
/// limits that keep one client from hurting the host. Each limit names the setting
/// that its error message quotes.
public struct RPCServerConfiguration: Sendable {
    public var socketPath: String
    public var host: RPCProgramInfo
    /// Longest accepted line in bytes, excluding its newline (setting `rpc.maxLineBytes`).
    public var maxLineBytes = 1 << 20
    /// Open connections at once (setting `rpc.maxConnections`).
    public var maxConnections = 256
    /// Requests of one connection being answered at once (setting `rpc.maxInFlight`).
    public var maxInFlight = 64
    /// Messages queued for a client that is not reading before it is disconnected
    /// (setting `rpc.outboundQueue`).
    public var outboundQueue = 1024
    /// How long a client may leave its socket unread before it is disconnected
    /// (setting `rpc.writeStallTimeoutMs`).
    public var writeStallTimeout: TimeAmount = .seconds(10)
    /// How long a new connection has to send `host.hello` (setting `rpc.helloTimeoutMs`).
    public var helloTimeout: TimeAmount = .seconds(10)
    /// Peer uids that may connect; by default the host's own uid and root.
    public var allowedUIDs: Set<UInt32> = [getuid(), 0]
    /// Roles that must present a token in `host.hello`, and the token for each.
    public var roleTokens: [RPCRole: String] = [:]

    public init(socketPath: String, host: RPCProgramInfo) {
        self.socketPath = socketPath
        self.host = host
    }

    var advertisedLimits: [(String, Int)] {
        [
            ("maxLineBytes", maxLineBytes),
            ("maxConnections", maxConnections),
            ("maxInFlight", maxInFlight),
            ("outboundQueue", outboundQueue),
            ("writeStallTimeoutMs", Int(writeStallTimeout.nanoseconds / 1_000_000)),
            ("helloTimeoutMs", Int(helloTimeout.nanoseconds / 1_000_000)),
        ]
    }
}
