import BatonProtocol
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A program to run as a child: a plugin of the host, or a sandbox of the process scheduler.
public struct ChildCommand: Sendable, Hashable {
    public var command: String
    public var arguments: [String]
    /// Added to the inherited environment; these win.
    public var environment: [String: String]
    public var workingDirectory: String?
    /// How long SIGTERM has before SIGKILL when the child is stopped.
    public var grace: Duration

    public init(
        command: String,
        arguments: [String] = [],
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        grace: Duration = .seconds(10)
    ) {
        self.command = command
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.grace = grace
    }
}

extension ChildCommand {
    /// The command of a pool's process spec (PROTOCOL.md §4, The process spec), with the
    /// sandbox's `PORT` when it has one.
    public init(_ spec: ProcessSpec, port: Int? = nil) {
        self.init(
            command: spec.command,
            arguments: spec.arguments,
            environment: spec.environment.merging(port.map { ["PORT": "\($0)"] } ?? [:]) { $1 },
            workingDirectory: spec.workingDirectory,
            grace: .milliseconds(spec.graceMs)
        )
    }
}

/// How a child ended, in words for a log line or a `failed` report.
public struct ChildExit: Sendable, Hashable, CustomStringConvertible {
    public var status: TerminationStatus

    public var description: String {
        switch status {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "killed by signal \(signal)\(Self.signalNames[signal].map { " (\($0))" } ?? "")"
        }
    }

    private static let signalNames: [Int32: String] = [
        SIGTERM: "SIGTERM", SIGKILL: "SIGKILL", SIGINT: "SIGINT", SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT",
        SIGHUP: "SIGHUP",
        SIGBUS: "SIGBUS", SIGPIPE: "SIGPIPE",
    ]
}

/// Where a child's standard output and error go.
public enum ChildOutput: Sendable {
    /// Both appended to this file, created if missing.
    case file(String)
    /// Standard error line by line to `line`; standard output discarded.
    case errorLines(@Sendable (String) -> Void)
}

public enum ChildProcess {
    /// Runs `command` in a process group of its own until it exits, and returns how it
    /// ended. `started` gets its pid once it runs. Cancelling the calling task stops it:
    /// SIGTERM to its group, then SIGKILL once `grace` has passed.
    public static func run(
        _ command: ChildCommand,
        output: ChildOutput,
        started: @escaping @Sendable (Int32) async -> Void = { _ in }
    ) async throws -> ChildExit {
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: command.grace)]
        let executable: Executable =
            command.command.contains("/") ? .path(FilePath(command.command)) : .name(command.command)
        var overrides: [Environment.Key: String?] = [:]
        for (name, value) in command.environment {
            if let key = Environment.Key(rawValue: name) { overrides[key] = value }
        }
        let environment = Environment.inherit.updating(overrides)
        let directory = command.workingDirectory.map { FilePath($0) }
        switch output {
        case .file(let path):
            let out = try FileDescriptor.open(
                FilePath(path),
                .writeOnly,
                options: [.append, .create],
                permissions: [.ownerReadWrite, .groupRead]
            )
            let err = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.append])
            let result = try await Subprocess.run(
                executable,
                arguments: Arguments(command.arguments),
                environment: environment,
                workingDirectory: directory,
                platformOptions: options,
                input: .none,
                output: .fileDescriptor(out, closeAfterSpawningProcess: true),
                error: .fileDescriptor(err, closeAfterSpawningProcess: true)
            ) { execution in
                await started(execution.processIdentifier.value)
            }
            return ChildExit(status: result.terminationStatus)
        case .errorLines(let line):
            let result = try await Subprocess.run(
                executable,
                arguments: Arguments(command.arguments),
                environment: environment,
                workingDirectory: directory,
                platformOptions: options,
                input: .none,
                output: .discarded,
                error: .sequence
            ) { execution in
                await started(execution.processIdentifier.value)
                // Read to the end even once stopping began: a child whose stderr closed
                // early would fail on its last words instead of shutting down cleanly.
                let errors = execution.standardError
                try await Task { for try await text in errors.strings() { line(text) } }.value
            }
            return ChildExit(status: result.terminationStatus)
        }
    }
}
