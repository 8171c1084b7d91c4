import BatonJSON
import BatonProtocol
import BatonRPC

/// One session with a Baton host, opened with `host.hello`: typed calls by `ProtocolMethod`,
/// pipelined writes, and the host's notifications in order.
public struct BatonSession: Sendable {
    public let rpc: RPCClient
    /// The protocol version the host agreed to speak.
    public let agreed: ProtocolVersion?

    /// Connects to `socket` and says hello as `role`; a refused hello closes the connection
    /// and throws the host's `RPCError`.
    public static func open(
        socket: String,
        role: RPCRole,
        name: String,
        version: String = BatonVersion.string,
        token: String? = nil
    ) async throws -> BatonSession {
        let rpc = try await RPCClient.connect(socketPath: socket)
        do {
            let answer = try await rpc.hello(
                role: role,
                client: RPCProgramInfo(name: name, version: version),
                token: token
            )
            return BatonSession(rpc: rpc, agreed: answer["protocol"]?.stringValue.flatMap(ProtocolVersion.init))
        } catch {
            await rpc.close()
            throw error
        }
    }

    /// Runs `body` with a session, then closes it, whether `body` returned or threw.
    public static func with<Result>(
        socket: String,
        role: RPCRole,
        name: String,
        token: String? = nil,
        _ body: (BatonSession) async throws -> Result
    ) async throws -> Result {
        let session = try await open(socket: socket, role: role, name: name, token: token)
        do {
            let result = try await body(session)
            await session.close()
            return result
        } catch {
            await session.close()
            throw error
        }
    }

    /// Calls `method`; an error answer is thrown as `RPCError` (its `protocolCode` names a
    /// domain error).
    public func call(_ method: ProtocolMethod, _ params: JSON? = nil) async throws -> JSON {
        try await rpc.call(method, params)
    }

    /// Writes a call and returns before its answer: calls take effect in the order written.
    public func send(_ method: ProtocolMethod, _ params: JSON? = nil) async throws -> RPCPendingAnswer {
        try await rpc.send(method, params)
    }

    public var notifications: AsyncStream<RPCNotification> { rpc.notifications }

    public func close() async {
        await rpc.close()
    }
}
