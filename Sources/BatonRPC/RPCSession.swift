import BatonJSON
import NIOCore

/// A connection that has completed `host.hello`. It is the handle method bodies use
/// to push notifications to the client or to end the connection; both hop to the
/// connection's event loop, so a session may be used from any task.
public final class RPCSession: Sendable {
    public let id: String
    public let role: RPCRole
    public let client: RPCProgramInfo
    /// The protocol version agreed at hello.
    public let version: ProtocolVersion
    public let peer: PeerCredentials
    let connection: NIOLoopBound<RPCConnectionHandler>
    let channel: any Channel

    init(
        id: String,
        role: RPCRole,
        client: RPCProgramInfo,
        version: ProtocolVersion,
        peer: PeerCredentials,
        connection: NIOLoopBound<RPCConnectionHandler>,
        channel: any Channel
    ) {
        self.id = id
        self.role = role
        self.client = client
        self.version = version
        self.peer = peer
        self.connection = connection
        self.channel = channel
    }

    /// Sends a notification. If the client is not reading and its queue is full, the
    /// connection is closed rather than letting the host's memory grow.
    public func notify(_ method: String, _ params: JSON) {
        let connection = self.connection
        channel.eventLoop.execute {
            connection.value.push(RPCEnvelope.notification(method: method, params: params))
        }
    }

    /// Closes the connection, logging `reason`.
    public func close(reason: String) {
        let connection = self.connection
        channel.eventLoop.execute { connection.value.close(reason: reason) }
    }

    /// Completes when the connection has closed, for cleaning up what the session held.
    public var closed: EventLoopFuture<Void> { channel.closeFuture }
}
