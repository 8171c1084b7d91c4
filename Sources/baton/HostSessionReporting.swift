import ArgumentParser
import BatonAdmin
import BatonRPC

extension HostSession {
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
