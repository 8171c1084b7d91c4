import BatonProtocol
import Logging

/// A program the host runs beside itself that speaks the protocol over its socket.
public struct PluginSpec: Sendable, Hashable {
    public var name: String
    public var role: String
    public var command: ChildCommand

    public init(name: String, role: String, command: ChildCommand) {
        self.name = name
        self.role = role
        self.command = command
    }
}

/// Keeps the configured plugins running: starts each with `BATON_SOCKET`, `BATON_ROLE` and
/// `BATON_TOKEN`, logs its stderr lines under its name, restarts it with backoff when it
/// exits, and stops it gracefully (SIGTERM, then SIGKILL after its grace) when cancelled.
public struct PluginSupervisor: Sendable {
    public var plugins: [PluginSpec]
    /// Environment every plugin gets; `token(role)` adds `BATON_TOKEN`.
    public var environment: [String: String]
    public var token: @Sendable (String) -> String?
    public var logger: Logger
    /// A plugin that ran this long before exiting restarts at once.
    public var healthyRun: Duration = .seconds(30)

    public init(
        plugins: [PluginSpec],
        environment: [String: String],
        token: @escaping @Sendable (String) -> String?,
        logger: Logger
    ) {
        self.plugins = plugins
        self.environment = environment
        self.token = token
        self.logger = logger
    }

    /// Runs until cancelled, then returns once every plugin has stopped.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for plugin in plugins {
                group.addTask { await supervise(plugin) }
            }
        }
    }

    private func supervise(_ plugin: PluginSpec) async {
        var command = plugin.command
        command.environment.merge(environment) { own, _ in own }
        command.environment["BATON_ROLE"] = plugin.role
        command.environment["BATON_TOKEN"] = token(plugin.role) ?? ""
        var pluginLogger = logger
        pluginLogger[metadataKey: "plugin"] = "\(plugin.name)"
        var backoff = Backoff.crash
        while !Task.isCancelled {
            let started = ContinuousClock.now
            pluginLogger.info("starting plugin", metadata: ["command": "\(command.command)", "role": "\(plugin.role)"])
            let outcome: String
            do {
                let lines = pluginLogger
                outcome = "\(try await ChildProcess.run(command, output: .errorLines { lines.info("\($0)") }))"
            } catch is CancellationError {
                break
            } catch {
                outcome = "could not start: \(error)"
            }
            if Task.isCancelled {
                pluginLogger.info("plugin stopped", metadata: ["how": "\(outcome)"])
                break
            }
            if ContinuousClock.now - started >= healthyRun { backoff.succeeded() }
            let wait = backoff.failed()
            pluginLogger.error("plugin exited; restarting", metadata: ["how": "\(outcome)", "in": "\(wait)"])
            try? await Task.sleep(for: wait)
        }
    }
}
