import BatonRPC
import BatonTestSupport
import Foundation
import NIOConcurrencyHelpers
import Subprocess
import SystemPackage
import Testing

/// Runs the real `baton` executable, the one built next to this test bundle.
enum BatonProcess {
    static var executable: FilePath { FilePath(builtExecutable("baton")) }

    /// The path of an executable built with the tests (`baton`, `baton-process-scheduler`).
    static func builtExecutable(_ name: String) -> String {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // The bundle sits in the build directory; its executable may sit inside it.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent(name).path
    }

    /// Reads a child's stderr lines until it says "listening on 127.0.0.1:PORT"; nil if it
    /// ends first. The example programs all announce themselves so.
    static func listeningPort(
        _ lines: inout SubprocessOutputSequence.StringSequence<UTF8>.AsyncIterator
    ) async throws -> Int? {
        while let line = try await lines.next() {
            if let range = line.range(of: "listening on 127.0.0.1:") {
                return Int(line[range.upperBound...].trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }

    /// A path in this repository, such as `examples/hello/app.py`.
    static func repositoryPath(_ relative: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent(relative).path
    }

    /// Runs `baton ARGS` to completion and returns its exit code and output. The output goes
    /// to files read after the exit, not through Subprocess's collecting pipes, which dropped
    /// all of it now and then when many tests ran processes at once (two runs saw `exited(1)`
    /// with empty stdout and stderr; swiftlang/swift-subprocess#96 reports dropped output).
    /// With `program` (an absolute path), runs that instead: a tool the test drives.
    static func run(
        _ arguments: [String],
        program: String? = nil
    ) async throws -> (status: TerminationStatus, stdout: String, stderr: String) {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (outPath, errPath) = (directory.file("stdout"), directory.file("stderr"))
        let out = try FileDescriptor.open(
            FilePath(outPath),
            .writeOnly,
            options: [.create, .truncate],
            permissions: .ownerReadWrite
        )
        let err = try FileDescriptor.open(
            FilePath(errPath),
            .writeOnly,
            options: [.create, .truncate],
            permissions: .ownerReadWrite
        )
        let result = try await Subprocess.run(
            .path(FilePath(program ?? executable.string)),
            arguments: Arguments(program == nil && arguments.first == "serve" ? withState(arguments) : arguments),
            output: .fileDescriptor(out, closeAfterSpawningProcess: true),
            error: .fileDescriptor(err, closeAfterSpawningProcess: true)
        )
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return (result.terminationStatus, stdout, stderr)
    }

    /// `baton serve` keeps its state in the user's state directory unless told otherwise; a
    /// test's host keeps it next to its socket or config file, in the test's own directory.
    static func withState(_ arguments: [String]) -> [String] {
        guard !arguments.contains("--state") else { return arguments }
        for flag in ["--socket", "--config"] {
            if let index = arguments.firstIndex(of: flag), index + 1 < arguments.count {
                return arguments + ["--state", (arguments[index + 1] as NSString).deletingLastPathComponent + "/state"]
            }
        }
        return arguments
    }

    /// Starts `baton serve ARGS` (with `--no-plugins` unless `plugins`, and then taking its
    /// sandboxes down when it exits, so none outlives the test, unless `keepingSandboxes`
    /// for a host a next one takes over from), runs `body`, and
    /// makes sure the process is gone before returning, whether `body` succeeded or not.
    /// Returns what `body` returned and how the process ended.
    static func serving<T: Sendable>(
        _ arguments: [String],
        plugins: Bool = false,
        keepingSandboxes: Bool = false,
        _ body: (Execution<NoInput, DiscardedOutput, SequenceOutput>, ServeLog) async throws -> T
    ) async throws -> (value: T, status: TerminationStatus) {
        let result = try await Subprocess.run(
            .path(executable),
            arguments: Arguments(
                ["serve"] + withState(arguments)
                    + (!plugins ? ["--no-plugins"] : keepingSandboxes ? [] : ["--stop-sandboxes-at-exit"])
            ),
            input: .none,
            output: .discarded,
            error: .sequence
        ) { execution in
            let log = ServeLog(execution.standardError.strings())
            do {
                return try await body(execution, log)
            } catch {
                // What this host said last, for a failure that may be its doing.
                Issue.record(
                    "baton serve \(execution.processIdentifier.value) said last: \(log.written.suffix(25).joined(separator: "\n"))"
                )
                throw error
            }
        }
        return (result.closureResult, result.terminationStatus)
    }
}

/// The host's log lines as they come, so a test can wait for an event in it. They are read
/// from the pipe as soon as they are written, whether or not the test is waiting: a host
/// whose log pipe filled up would block on its next line.
final class ServeLog {
    private var lines: AsyncThrowingStream<String, any Error>.Iterator
    private(set) var seen: [String] = []

    /// Every line read from the pipe so far, waited for or not: for a failure's message.
    var written: [String] { received.withLockedValue { $0 } }
    private let received = NIOLockedValueBox<[String]>([])

    init(_ output: SubprocessOutputSequence.StringSequence<UTF8>) {
        let (stream, continuation) = AsyncThrowingStream<String, any Error>.makeStream()
        let received = self.received
        Task {
            do {
                for try await line in output {
                    received.withLockedValue { $0.append(line) }
                    continuation.yield(line)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        lines = stream.makeAsyncIterator()
    }

    /// Reads log lines until one contains `text`; throws if the log ends first.
    @discardableResult
    func waitFor(_ text: String) async throws -> String {
        try await waitFor(any: [text])
    }

    /// Reads log lines until each of `texts` has been in one, in whatever order the host's
    /// parts, which start together, write them; throws if the log ends first.
    func waitFor(all texts: [String]) async throws {
        var missing = texts.filter { text in !seen.contains { $0.contains(text) } }
        while !missing.isEmpty {
            guard let line = try await lines.next() else {
                throw LogEnded(waitingFor: missing.joined(separator: ", "), seen: seen)
            }
            seen.append(line)
            missing.removeAll { line.contains($0) }
        }
    }

    /// Reads log lines until one holds any of `texts`; returns that line.
    func waitFor(any texts: [String]) async throws -> String {
        while let line = try await lines.next() {
            seen.append(line)
            if texts.contains(where: { line.contains($0) }) { return line }
        }
        throw LogEnded(waitingFor: texts.joined(separator: " or "), seen: seen)
    }

    /// Everything the process still writes, until it exits.
    func rest() async throws -> [String] {
        while let line = try await lines.next() { seen.append(line) }
        return seen
    }

    struct LogEnded: Error, CustomStringConvertible {
        var waitingFor: String
        var seen: [String]
        var description: String { "log ended before \"\(waitingFor)\"; it said: \(seen.joined(separator: "\n"))" }
    }
}
