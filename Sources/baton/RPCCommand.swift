import ArgumentParser
import BatonAdmin
import BatonJSON
import BatonProtocol
import BatonRPC

struct RPCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc",
        abstract: "Call one method on a running host and print its result as JSON.",
        discussion: "Exits 0 with the result on standard output, or 1 with the error on standard error."
    )

    @OptionGroup var socket: SocketOptions

    @Option(help: "The session's role: scheduler, router or admin.")
    var role: String = RPCRole.admin.rawValue
    @Option(help: "A file holding the role's token, for hosts that require one.")
    var tokenFile: String?

    @Argument(help: "The method, for example host.ping.")
    var method: String
    @Argument(help: "The params as JSON, for example '{\"app\":\"hello\"}'.")
    var params: String?

    func run() async throws {
        guard let role = RPCRole(rawValue: role) else {
            throw ValidationError("--role must be scheduler, router or admin; got \(role)")
        }
        do {
            let params = try self.params.map { try JSON.parse($0, options: .init(allowScalarRoot: true)) }
            let result = try await HostSession.with(
                socket: socket.socket,
                role: role,
                tokenFile: tokenFile,
                name: "baton-rpc"
            ) { client in try await client.call(method, params) }
            print(try result.serializedString())
        } catch let error as RPCError {
            let data = error.data.map { " \($0)" } ?? ""
            printError("error \(error.code): \(error.message)\(data)", command: "rpc")
            throw ExitCode.failure
        } catch let error as JSONParseError {
            printError("PARAMS_JSON is not valid JSON: \(error)", command: "rpc")
            throw ExitCode.failure
        } catch let error as TokenFile.Problem {
            printError("\(error)", command: "rpc")
            throw ExitCode.failure
        } catch {
            printError("cannot reach the host at \(socket.socket): \(error)", command: "rpc")
            throw ExitCode.failure
        }
    }
}
