import BatonClient
import BatonProtocol
import BatonRPC

/// A session with a running host, opened the same way by every admin client.
public enum HostSession {
    /// Runs `body` with a session, then closes it, whether `body` returned or threw.
    public static func with<Result>(
        socket: String,
        role: RPCRole = .admin,
        tokenFile: String? = nil,
        name: String,
        _ body: (RPCClient) async throws -> Result
    ) async throws -> Result {
        let token = try tokenFile.map { path throws(TokenFile.Problem) in try TokenFile.read(path) }
        return try await BatonSession.with(socket: socket, role: role, name: name, token: token) {
            try await body($0.rpc)
        }
    }
}
