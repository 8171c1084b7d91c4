import ArgumentParser
import BatonHost
import BatonRPC

/// A session with a running host, opened the same way by every client subcommand.
enum HostSession {
    static func open(socket: String, role: RPCRole = .admin, tokenFile: String? = nil, name: String) async throws -> RPCClient {
        let token = try tokenFile.map { path throws(TokenFile.Problem) in try TokenFile.read(path) }
        let client = try await RPCClient.connect(socketPath: socket)
        do {
            try await client.hello(role: role, client: RPCProgramInfo(name: name, version: BatonVersion.string), token: token)
        } catch {
            await client.close()
            throw error
        }
        return client
    }

    /// Runs a client command's work; an error answer or an unreachable host becomes one line
    /// on stderr and exit status 1.
    static func reporting<T>(_ command: String, socket: String, _ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as RPCError {
            printError("\(error.message) (error \(error.code))", command: command)
            throw ExitCode.failure
        } catch {
            printError("cannot reach the host at \(socket): \(error)", command: command)
            throw ExitCode.failure
        }
    }
}
