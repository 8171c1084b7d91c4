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

    @OptionGroup var admin: AdminOptions
    @Argument(help: "The app to roll back.")
    var app: String

    func run() async throws {
        let progress = DeployProgress(socket: admin.socket.socket, tokenFile: admin.tokenFile) { print($0) }
        let outcome = try await HostSession.reporting("rollback", socket: admin.socket.socket) {
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
