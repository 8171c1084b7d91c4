import ArgumentParser
import BatonAdmin

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Deploy again the version an app ran before its current one, and follow it.",
        discussion: """
            The previous version that finished its rollover goes through the same readiness gate as any \
            deploy; the current one serves until it is ready. Exits 0 once it is done, 1 with the reason if \
            it failed or there is nothing to roll back to.
            """
    )

    @OptionGroup var socket: SocketOptions
    @Option(help: "A file holding the admin token, for hosts that require one.")
    var tokenFile: String?
    @Argument(help: "The app to roll back.")
    var app: String

    func run() async throws {
        let progress = DeployProgress(socket: socket.socket, tokenFile: tokenFile) { print($0) }
        let outcome = try await HostSession.reporting("rollback", socket: socket.socket) {
            try await progress.rollback(app: app)
        }
        guard outcome.succeeded else {
            printError(
                "rollback \(outcome.deployment) failed: \(outcome.reason ?? "unknown reason")",
                command: "rollback"
            )
            throw ExitCode.failure
        }
    }
}
