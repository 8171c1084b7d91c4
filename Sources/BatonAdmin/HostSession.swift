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
        let client = try await open(socket: socket, role: role, tokenFile: tokenFile, name: name)
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    private static func open(
        socket: String,
        role: RPCRole = .admin,
        tokenFile: String? = nil,
        name: String
    ) async throws -> RPCClient {
        let token = try tokenFile.map { path throws(TokenFile.Problem) in try TokenFile.read(path) }
        let client = try await RPCClient.connect(socketPath: socket)
        do {
            try await client.hello(
                role: role,
                client: RPCProgramInfo(name: name, version: BatonVersion.string),
                token: token
            )
        } catch {
            await client.close()
            throw error
        }
        return client
    }
}
