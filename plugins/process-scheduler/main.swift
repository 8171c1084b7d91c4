// baton-process-scheduler: the embedded default scheduler. It runs each sandbox as a local
// process and speaks only the public protocol, as role `scheduler`.
//
// Environment: BATON_SOCKET (the host's socket; required), BATON_TOKEN (if the host wants
// one), BATON_SCHEDULER_NAME (default "process"), BATON_STATE_DIR (default ".baton"; its
// process-scheduler/ directory holds a log file per sandbox and the record of running ones,
// which a restarted scheduler adopts), BATON_LOG_LEVEL (default info). Logs go to stderr.
import BatonPlugins
import BatonProbe
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

let environment = ProcessInfo.processInfo.environment
let level = environment["BATON_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = level
    return handler
}
let logger = Logger(label: "process-scheduler")

guard let socketPath = environment["BATON_SOCKET"], !socketPath.isEmpty else {
    logger.critical("BATON_SOCKET is not set: it must name the host's socket")
    exit(2)
}
if let role = environment["BATON_ROLE"], !role.isEmpty, role != "scheduler" {
    logger.critical("this plugin is a scheduler, but BATON_ROLE is \(role)")
    exit(2)
}
let stateDirectory = (environment["BATON_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ".baton") + "/process-scheduler"
let logDirectory = stateDirectory + "/logs"
do {
    try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
} catch {
    logger.critical("cannot create the sandbox log directory \(logDirectory): \(error)")
    exit(1)
}

let reporter = Reporter()
let supervisor = Supervisor(
    reporter: reporter, probe: NetworkReadinessProbe(group: MultiThreadedEventLoopGroup.singleton, timeout: .milliseconds(500)),
    logDirectory: logDirectory, recordsPath: stateDirectory + "/sandboxes.json", logger: logger)
let link = HostLink(
    socketPath: socketPath, name: environment["BATON_SCHEDULER_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? "process",
    token: environment["BATON_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }, supervisor: supervisor, reporter: reporter, logger: logger)

/// Runs until SIGTERM or SIGINT, then stops the sandboxes before it exits.
struct SchedulerService: Service {
    func run() async throws {
        let delivering = Task { await reporter.run(logger: logger) }
        await supervisor.adoptRecorded()
        let linking = Task { await link.run() }
        try? await gracefulShutdown()
        logger.info("stopping every sandbox")
        // The sandboxes go first, so that their `stopped` reports still reach the host.
        await supervisor.stopAll()
        reporter.finish()
        await delivering.value
        linking.cancel()
        await linking.value
    }
}

try await ServiceGroup(
    configuration: ServiceGroupConfiguration(services: [SchedulerService()], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
).run()
