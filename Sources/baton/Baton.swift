import ArgumentParser
import BatonProtocol

@main
struct Baton: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "A host that rolls HTTP services over to new versions without losing a request.",
        version: BatonVersion.string,
        subcommands: [
            DemoCommand.self, ServeCommand.self, DeployCommand.self, RollbackCommand.self, ScaleCommand.self,
            PauseCommand.self, ResumeCommand.self, RemoveCommand.self, StatusCommand.self, RPCCommand.self,
            ContractCommand.self,
            SettingsCommand.self,
        ]
    )
}
