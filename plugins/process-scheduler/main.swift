// baton-process-scheduler: the embedded default scheduler. It runs each sandbox as a local
// process and speaks only the public protocol, as role `scheduler`.
//
// Environment: BATON_SOCKET (the host's socket; required), BATON_TOKEN (if the host wants
// one), BATON_SCHEDULER_NAME (default "process"), BATON_STATE_DIR (default ".baton"; its
// process-scheduler/ directory holds a log file per sandbox and the record of running ones,
// which a restarted scheduler adopts), BATON_LOG_LEVEL (default info). Logs go to stderr.
//
// Sandboxes outlive this process: on SIGTERM, or when the host that started it is gone, it
// exits and leaves them running for the next run to adopt. One process scheduler at a time
// uses a state directory; a second waits up to 10 s for the first to exit.
import BatonClient
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

guard let socket = environment["BATON_SOCKET"], !socket.isEmpty else {
    logger.critical("BATON_SOCKET is not set: it must name the host's socket")
    exit(2)
}
if let role = environment["BATON_ROLE"], !role.isEmpty, role != "scheduler" {
    logger.critical("this plugin is a scheduler, but BATON_ROLE is \(role)")
    exit(2)
}
let stateDirectory =
    (environment["BATON_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ".baton") + "/process-scheduler"
let logDirectory = stateDirectory + "/logs"
do {
    try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
} catch {
    logger.critical("cannot create the sandbox log directory \(logDirectory): \(error)")
    exit(1)
}

let lock: DirectoryLock
do {
    lock = try await DirectoryLock.acquire(
        directory: stateDirectory,
        file: "scheduler.lock",
        holder: "process scheduler",
        wait: .seconds(10)
    )
} catch {
    logger.critical("\(error)")
    exit(1)
}

let link = SchedulerLink.plugin(name: "process", logger: logger)
let supervisor = Supervisor(
    link: link,
    probe: NetworkReadinessProbe(group: MultiThreadedEventLoopGroup.singleton, timeout: .milliseconds(500)),
    logDirectory: logDirectory,
    recordsPath: stateDirectory + "/sandboxes.json",
    logger: logger
)

/// Runs until SIGTERM or SIGINT, or until the host that started it dies, then exits and
/// leaves its sandboxes running.
struct SchedulerService: Service {
    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await supervisor.run() }
            await supervisor.adoptRecorded()  // reported before the link runs: its first sync has them
            // The link to the host lives until the last reports are out.
            group.addTask {
                // Refused for good, it exits at once; its sandboxes are left for a later run.
                if case .refused = await link.run(supervisor) { exit(1) }
            }
            await withTaskGroup(of: Void.self) { watch in
                watch.addTask { await Self.exitWhenOrphaned() }
                try? await gracefulShutdown()
                watch.cancelAll()
            }
            let left = await supervisor.leaveRunning()
            logger.info(
                "exiting; sandboxes keep running for the next scheduler to adopt",
                metadata: ["sandboxes": "\(left)"]
            )
            lock.release()
            // The last reports get a moment; a host that no longer reads does not keep this
            // process alive. Detached, since nothing may wait for it: a report stuck on a host
            // that does not answer ignores cancellation, and only this exit ends the process.
            Task.detached {
                try? await Task.sleep(for: .seconds(3))
                exit(0)
            }
            link.finish()
            await group.next()  // the link ends first, once its reports are out
            group.cancelAll()
        }
    }

    /// A scheduler whose host was killed would otherwise linger beside the one the next host
    /// starts: once its parent is not the host (`BATON_HOST_PID`), it takes itself down like on
    /// SIGTERM. The host's pid comes from the host, not from `getppid()` at start: a host killed
    /// while it started this scheduler leaves it with a parent that is already another process.
    static func exitWhenOrphaned() async {
        let parent = environment["BATON_HOST_PID"].flatMap { pid_t($0) } ?? getppid()
        guard parent > 1 else { return }
        while !Task.isCancelled, getppid() == parent {
            try? await Task.sleep(for: .milliseconds(250))
        }
        guard !Task.isCancelled else { return }
        logger.warning("the host process that started this scheduler is gone")
        kill(getpid(), SIGTERM)
    }
}

try await ServiceGroup(
    configuration: ServiceGroupConfiguration(
        services: [SchedulerService()],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
    )
).run()
