import BatonProtocol
import BatonRPC

/// A session with a running host, opened the same way by every admin client.
public enum HostSession {
    public static func open(
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
