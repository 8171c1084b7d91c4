import BatonJSON
import BatonTestSupport
import Foundation
import Subprocess
import Testing

/// `baton deploy`, `baton rollback`, the operator's verbs and `baton status` against a real
/// `baton serve` with its built-in scheduler.
@Suite("baton deploy, rollback, scale, pause, resume, remove and status", .timeLimit(.minutes(1)))
struct DeployCommandTests {
    @Test func deployAndRollbackFollowToDoneOrExitNonZeroWithTheReasonAndStatusShowsTheApp() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("baton.sock")
        let crashing = directory.file("crashing.json")
        try """
        {"app": "hello", "version": "broken", "readyTimeoutMs": 1500,
         "services": [{"name": "web", "spec": {"command": "sh", "args": ["-c", "exit 7"]}}]}
        """.write(toFile: crashing, atomically: true, encoding: .utf8)
        let outcome = try await BatonProcess.serving(
            ["--socket", socket, "--state", directory.file("state")],
            plugins: true
        ) { execution, log in
            try await log.waitFor("rpc socket listening")
            let deploy = try await BatonProcess.deployHello(socket: socket, version: "v7")
            #expect(deploy.status == .exited(0), "\(deploy)")
            #expect(deploy.stdout.contains("hello v7"))
            #expect(deploy.stdout.contains("traffic now goes to v7"))
            #expect(deploy.stdout.contains("done"))

            let nothing = try await BatonProcess.run(["rollback", "--socket", socket, "hello"])
            #expect(nothing.status == .exited(1))
            #expect(nothing.stderr.contains("Nothing to roll back to"), "\(nothing)")
            let next = try await BatonProcess.deployHello(socket: socket, version: "v8")
            #expect(next.status == .exited(0), "\(next)")
            let back = try await BatonProcess.run(["rollback", "--socket", socket, "hello"])
            #expect(back.status == .exited(0), "\(back)")
            #expect(back.stdout.contains("hello v7"), "\(back.stdout)")
            #expect(back.stdout.contains("traffic now goes to v7"))

            let failed = try await BatonProcess.run(["deploy", "--socket", socket, "--file", crashing])
            #expect(failed.status == .exited(1))
            #expect(failed.stderr.contains("failed: not ready after 1500 ms"), "\(failed)")
            #expect(failed.stderr.contains("exited with status 7"))

            let table = try await BatonProcess.run(["status", "--socket", socket, "hello"])
            #expect(table.stdout.contains("active version v7"))
            #expect(table.stdout.contains("SANDBOX"))
            #expect(
                table.stdout.split(separator: "\n").filter { $0.hasPrefix("p-1-") && $0.contains(" ready ") }.count
                    == 2,
                "\(table.stdout)"
            )
            let json = try await BatonProcess.run(["status", "--socket", socket, "--json", "hello"])
            let parsed = try JSON.parse(json.stdout)
            #expect(parsed["activeVersion"] == "v7")
            let overview = try await BatonProcess.run(["status", "--socket", socket])
            #expect(overview.stdout.contains("hello  serving  v7"))
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return true
        }
        #expect(outcome.status == .exited(0))
    }

    @Test func scalePauseResumeAndRemoveAnswerAndRemoveReturnsOnceTheAppIsForgotten() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("baton.sock")
        let outcome = try await BatonProcess.serving(
            ["--socket", socket, "--state", directory.file("state")],
            plugins: true
        ) { execution, log in
            try await log.waitFor("rpc socket listening")
            #expect(try await BatonProcess.deployHello(socket: socket).status == .exited(0))
            func baton(
                _ arguments: String...
            ) async throws -> (status: TerminationStatus, stdout: String, stderr: String) {
                try await BatonProcess.run([arguments[0], "--socket", socket] + arguments.dropFirst())
            }
            #expect(try await baton("pause", "hello").stdout.contains("hello: paused"))
            #expect(try await baton("status").stdout.contains("hello  paused"))
            #expect(try await baton("resume", "hello").status == .exited(0))
            #expect(try await baton("scale", "hello", "web", "3").stdout.contains("3 instance(s)"))
            let scaled = try JSON.parse(try await baton("status", "--json", "hello").stdout)
            #expect(scaled["pools"]?.arrayValue?.first?["desired"] == 3)
            let unknown = try await baton("scale", "hello", "api", "1")
            #expect(unknown.status == .exited(1) && unknown.stderr.contains("Unknown service \"api\""), "\(unknown)")
            #expect(try await baton("scale", "hello", "web", "0").stdout.contains("drains, then stops"))

            let removed = try await baton("remove", "hello")
            #expect(removed.status == .exited(0) && removed.stdout.contains("hello: removed"), "\(removed)")
            let gone = try await baton("status", "hello")
            #expect(gone.status == .exited(1) && gone.stderr.contains("Unknown app"))
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return true
        }
        #expect(outcome.status == .exited(0))
    }
}

extension BatonProcess {
    /// `baton deploy` of examples/hello, as a user runs it.
    static func deployHello(
        socket: String,
        version: String? = nil
    ) async throws -> (status: TerminationStatus, stdout: String, stderr: String) {
        try await run(
            ["deploy", "--socket", socket, "--file", repositoryPath("examples/hello/deploy.json")]
                + (version.map { ["--version", $0] } ?? [])
        )
    }
}
