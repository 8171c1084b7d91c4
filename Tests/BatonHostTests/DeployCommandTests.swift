import BatonJSON
import BatonTestSupport
import Foundation
import Subprocess
import Testing

/// `baton deploy`, `baton rollback` and `baton status` against a real `baton serve` with its
/// built-in scheduler.
@Suite("baton deploy, rollback and status", .timeLimit(.minutes(1)))
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
            let deploy = try await BatonProcess.run([
                "deploy", "--socket", socket, "--file", BatonProcess.repositoryPath("examples/hello/deploy.json"),
                "--version", "v7",
            ])
            #expect(deploy.status == .exited(0), "\(deploy)")
            #expect(deploy.stdout.contains("hello v7"))
            #expect(deploy.stdout.contains("traffic now goes to v7"))
            #expect(deploy.stdout.contains("done"))

            let nothing = try await BatonProcess.run(["rollback", "--socket", socket, "hello"])
            #expect(nothing.status == .exited(1))
            #expect(nothing.stderr.contains("Nothing to roll back to"), "\(nothing)")
            let next = try await BatonProcess.run([
                "deploy", "--socket", socket, "--file", BatonProcess.repositoryPath("examples/hello/deploy.json"),
                "--version", "v8",
            ])
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
            #expect(overview.stdout.contains("hello  v7"))
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return true
        }
        #expect(outcome.status == .exited(0))
    }
}
