import ArgumentParser
import BatonAdmin
import BatonJSON
import BatonRPC

struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Deploy a version from a file and follow it until it is done or failed.",
        discussion: """
            The file holds app.deploy's params. --version replaces its version and every ${version} in its \
            services; a relative cwd in a spec is taken from the file's directory. Exits 0 once the deploy is \
            done, 1 with the reason if it failed.
            """
    )

    @OptionGroup var admin: AdminOptions
    @Option(help: "The deploy file (app.deploy's params as JSON).")
    var file: String
    @Option(help: "The version to deploy, instead of the file's.")
    var version: String?

    func run() async throws {
        let deploy: JSON
        do {
            deploy = try DeployFile.load(file, version: version)
        } catch {
            printError("\(error)", command: "deploy")
            throw ExitCode.failure
        }
        let progress = DeployProgress(socket: admin.socket.socket, tokenFile: admin.tokenFile) { print($0) }
        let outcome = try await HostSession.reporting("deploy", socket: admin.socket.socket) {
            try await progress.run(deploy)
        }
        guard outcome.succeeded else {
            printError("deploy \(outcome.deployment) failed: \(outcome.reason ?? "unknown reason")", command: "deploy")
            throw ExitCode.failure
        }
    }
}
