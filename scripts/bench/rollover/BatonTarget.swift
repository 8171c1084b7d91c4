import BatonAdmin
import BatonJSON
import BatonPlugins
import BatonProtocol
import Foundation
import NIOConcurrencyHelpers

/// `baton serve` with its built-in process scheduler, rolled over by `app.deploy` of
/// examples/hello's deploy.json, with host `settings` from a config file.
final class BatonTarget: RolloverTarget {
    let port: Int
    let socket: String
    private let executable: String
    private let deployFile: String
    private let workDirectory: String
    private let settings: [String: Int]
    private let neverReadyWait: Duration
    private let process = NIOLockedValueBox<BackgroundChild?>(nil)
    /// The `baton serve` process, once it runs.
    var pid: Int32? { process.withLockedValue { $0?.pid } }
    var stateDirectory: String { workDirectory + "/state" }

    /// Turns off the readiness gate, the drain, the retries and the holding: the seed
    /// system before its fix.
    static let unprotectedSettings = ["launcher.readinessGate": 0, "ingress.maxRetries": 0, "ingress.holdTimeoutMs": 0]

    init(
        executable: String,
        appDirectory: String,
        workDirectory: String,
        settings: [String: Int] = [:],
        neverReadyWait: Duration
    ) throws {
        self.executable = executable
        deployFile = appDirectory + "/deploy.json"
        self.workDirectory = workDirectory
        self.settings = settings
        self.neverReadyWait = neverReadyWait
        socket = workDirectory + "/baton.sock"
        port = try FreePort.pick()
        // The host refuses a socket in a directory others can enter.
        try FileManager.default.createDirectory(
            atPath: workDirectory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
    }

    func start() async throws {
        let members = settings.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
        try "{\"settings\": {\(members)}}".write(
            toFile: workDirectory + "/config.json",
            atomically: true,
            encoding: .utf8
        )
        let arguments = [
            "serve", "--socket", socket, "--http", "127.0.0.1:\(port)", "--state", stateDirectory, "--log-level",
            "warning",
            "--config", workDirectory + "/config.json", "--stop-sandboxes-at-exit",
        ]
        let command = ChildCommand(command: executable, arguments: arguments, grace: .seconds(20))
        let log = workDirectory + "/baton.log"
        process.withLockedValue { $0 = BackgroundChild(command, log: log) }
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            if (try? await HostSession.with(socket: socket, name: "baton-bench-rollover") { _ in }) != nil { break }
            guard ContinuousClock.now < deadline else {
                throw SwitchFailure(description: "baton serve did not start; see \(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        _ = try await rollOver(to: "v1")
        _ = try await HostSession.with(socket: socket, name: "baton-bench-rollover") { admin in
            try await admin.call(.routeSet, ["host": "hello.localhost", "app": "hello"])
        }
    }

    func rollOver(to version: String) async throws -> RolloverStep {
        let outcome = try await deploy(try load(version))
        guard outcome.succeeded else {
            throw SwitchFailure(description: "deploy of \(version) failed: \(outcome.reason ?? "?")")
        }
        return RolloverStep(
            version: version,
            readyAt: outcome.readyHeardAt,
            hostReadyToCutoverMs: outcome.readyToCutoverMs
        )
    }

    func deployNeverReady(version: String) async throws -> String {
        var deploy = try load(version)
        let timeoutMs = Int64(neverReadyWait.components.seconds * 1000)
        deploy = deploy.setting("readyTimeoutMs", to: .int(timeoutMs))
        let services = (deploy["services"]?.arrayValue ?? []).map { service in
            service.setting(
                "spec",
                to: service["spec"]!.setting("command", to: "python3").setting(
                    "args",
                    to: ["-c", "import time; time.sleep(3600)"]
                )
            )
        }
        let started = ContinuousClock.now
        let outcome = try await self.deploy(deploy.setting("services", to: .array(services)))
        let took = ContinuousClock.now - started
        if outcome.succeeded {
            try await Task.sleep(for: neverReadyWait - took)
            return "the deploy \"succeeded\" at once: traffic went to sandboxes that never listen"
        }
        return
            "the deploy failed after \(DeployProgress.milliseconds(took)) ms (\(outcome.reason ?? "?")); the old version kept serving"
    }

    /// examples/hello's deploy at `version`, with one sandbox per service: each peer has one
    /// backend per version, so every target serves from as many processes.
    private func load(_ version: String) throws -> JSON {
        let deploy = try DeployFile.load(deployFile, version: version)
        let services = (deploy["services"]?.arrayValue ?? []).map { $0.setting("instances", to: .int(1)) }
        return deploy.setting("services", to: .array(services))
    }

    func stop() async {
        await process.withLockedValue { $0 }?.stop()
    }

    private func deploy(_ deploy: JSON) async throws -> DeployProgress.Outcome {
        try await DeployProgress(socket: socket, tokenFile: nil, say: { _ in }).run(deploy)
    }
}
