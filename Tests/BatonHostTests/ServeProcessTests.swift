import BatonJSON
import BatonRPC
import BatonTestSupport
import Foundation
import Glibc
import Subprocess
import Testing

/// `baton serve` and `baton rpc` as real processes.
@Suite("baton serve and baton rpc")
struct ServeProcessTests {
    @Test(arguments: [Signal.terminate, Signal.interrupt])
    func serveAnswersAndShutsDownCleanlyOnASignal(signal: Signal) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("run/baton.sock")
        // With the built-in scheduler, as a user runs it: it starts, and stops with the host.
        let outcome = try await BatonProcess.serving(
            ["--socket", socket, "--state", directory.file("state")],
            plugins: true
        ) { execution, log in
            try await log.waitFor("rpc socket listening")
            try await log.waitFor("process-scheduler")  // its own log lines, in the host's log
            let ping = try await BatonProcess.run(["rpc", "--socket", socket, "host.ping"])
            #expect(ping.status == .exited(0))
            #expect(ping.stdout == "{}\n")
            try execution.send(signal: signal)
            try await log.waitFor("plugin stopped")
            try await log.waitFor("rpc socket closed")
            return true
        }
        #expect(outcome.status == .exited(0))
        #expect(access(socket, F_OK) != 0, "the socket file is removed on shutdown")
    }

    @Test func aStaleSocketFromACrashedRunIsReplaced() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("baton.sock")
        try makeStaleSocket(at: socket)
        let outcome = try await BatonProcess.serving(["--socket", socket]) { execution, log in
            try await log.waitFor("rpc socket listening")
            let ping = try await BatonProcess.run(["rpc", "--socket", socket, "host.ping"])
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return ping.status
        }
        #expect(outcome.value == .exited(0))
        #expect(outcome.status == .exited(0))
    }

    @Test func aSecondHostOnALiveSocketOrStateDirectoryRefusesToStartAndLeavesTheFirstAlone() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("baton.sock")
        let outcome = try await BatonProcess.serving(["--socket", socket]) { execution, log in
            try await log.waitFor("rpc socket listening")
            // What each refused host said and how it ended, whole: a failure here once showed only an empty stderr.
            let second = try await BatonProcess.run([
                "serve", "--socket", socket, "--state", directory.file("other-state"),
            ])
            #expect(second.status == .exited(1), "\(second)")
            #expect(second.stderr.contains("another host is already listening on \(socket)"), "\(second)")
            let sameState = try await BatonProcess.run([
                "serve", "--socket", directory.file("other.sock"), "--state", directory.file("state"),
            ])
            #expect(sameState.status == .exited(1), "\(sameState)")
            #expect(
                sameState.stderr.contains(
                    "another baton serve (pid \(execution.processIdentifier.value)) holds \(directory.file("state/baton.lock"))"
                ),
                "\(sameState)"
            )
            let ping = try await BatonProcess.run(["rpc", "--socket", socket, "host.ping"])
            #expect(ping.status == .exited(0))
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return true
        }
        #expect(outcome.status == .exited(0))
    }

    @Test func aSocketDirectoryOthersCanEnterIsRefused() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        chmod(directory.path, 0o755)
        let result = try await BatonProcess.run(["serve", "--socket", directory.file("baton.sock")])
        #expect(result.status == .exited(1))
        #expect(result.stderr.contains("mode 755"))
    }

    @Test func rpcPrintsErrorsAndExitsNonZero() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("baton.sock")
        let unreachable = try await BatonProcess.run(["rpc", "--socket", socket, "host.ping"])
        #expect(unreachable.status == .exited(1))
        #expect(unreachable.stderr.contains("cannot reach the host at \(socket)"))

        let outcome = try await BatonProcess.serving(["--socket", socket]) { execution, log in
            try await log.waitFor("rpc socket listening")
            let unknown = try await BatonProcess.run(["rpc", "--socket", socket, "no.such.method", "{}"])
            let badJSON = try await BatonProcess.run(["rpc", "--socket", socket, "host.ping", "{oops"])
            let badRole = try await BatonProcess.run(["rpc", "--socket", socket, "--role", "king", "host.ping"])
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return [unknown, badJSON, badRole]
        }
        let (unknown, badJSON, badRole) = (outcome.value[0], outcome.value[1], outcome.value[2])
        #expect(unknown.status == .exited(1))
        #expect(unknown.stderr.contains("-32601"))
        #expect(badJSON.status == .exited(1))
        #expect(badJSON.stderr.contains("not valid JSON"))
        #expect(badRole.status != .exited(0))
    }

    @Test func aRoleTokenFileIsEnforcedEndToEnd() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("baton.sock")
        let tokenFile = directory.file("admin.token")
        try "tok-123\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let wrongFile = directory.file("wrong.token")
        try "nope".write(toFile: wrongFile, atomically: true, encoding: .utf8)
        let outcome = try await BatonProcess.serving(["--socket", socket, "--token-file", "admin=\(tokenFile)"]) {
            execution,
            log in
            try await log.waitFor("rpc socket listening")
            let right = try await BatonProcess.run(["rpc", "--socket", socket, "--token-file", tokenFile, "host.ping"])
            let wrong = try await BatonProcess.run(["rpc", "--socket", socket, "--token-file", wrongFile, "host.ping"])
            let none = try await BatonProcess.run(["rpc", "--socket", socket, "host.ping"])
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return [right, wrong, none]
        }
        #expect(outcome.value[0].status == .exited(0))
        #expect(outcome.value[1].status == .exited(1))
        #expect(outcome.value[1].stderr.contains("Unauthorized"))
        #expect(outcome.value[2].status == .exited(1))
    }

    /// Leaves a socket file behind with nobody listening, as a crashed host would.
    private func makeStaleSocket(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        close(fd)
        var info = stat()
        #expect(lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK)
    }

    @Test func aConfigFileSetsUpTheHostAndAFlagWinsOverIt() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("baton.sock")
        let config = directory.file("baton.json")
        try """
        {"socket": "\(socket)", "state": "\(directory.file("state"))", "plugins": [],
         "settings": {"rpc.maxLineBytes": 64}, "routes": [{"host": "Shop.Test", "app": "shop"},
                    {"host": "shop.test", "pathPrefix": "/api/", "app": "api", "stripPrefix": true}]}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let outcome = try await BatonProcess.serving(
            ["--config", config, "--set", "rpc.maxLineBytes=4096"],
            plugins: true
        ) { execution, log in
            try await log.waitFor("rpc socket listening")
            let routes = try await BatonProcess.run(["rpc", "--socket", socket, "route.list"])
            #expect(routes.stdout.contains(#""host":"shop.test","app":"shop"}"#), "\(routes)")
            #expect(
                routes.stdout.contains(#""host":"shop.test","app":"api","pathPrefix":"/api","stripPrefix":true"#),
                "\(routes)"
            )
            let long = try await BatonProcess.run([
                "rpc", "--socket", socket, "app.status", #"{"app":"\#(String(repeating: "x", count: 200))"}"#,
            ])
            #expect(
                long.stderr.contains("error 2002"),
                "a 200-byte line is under the flag's 4096, not the file's 64: \(long)"
            )
            try execution.send(signal: .terminate)
            return try await log.rest().contains { $0.contains("starting plugin") }
        }
        #expect(outcome.value == false, "\"plugins\": [] starts none")
        #expect(outcome.status == .exited(0))
    }

    @Test func aBadConfigFileIsRefusedWithTheReason() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let config = directory.file("bad.json")
        try #"{"settings": {"ingress.holdTimeoutMillis": 5}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let unknown = try await BatonProcess.run(["serve", "--config", config, "--socket", directory.file("s.sock")])
        #expect(unknown.status == .exited(1))
        #expect(unknown.stderr.contains("unknown setting ingress.holdTimeoutMillis"))
        try #"{"socket": 5"#.write(toFile: config, atomically: true, encoding: .utf8)
        let broken = try await BatonProcess.run(["serve", "--config", config])
        #expect(broken.status == .exited(1))
        #expect(broken.stderr.contains("is not valid JSON"))
        try #"{"routes": [{"host": "shop.test", "app": "shop", "pathPrefix": "/a/../b"}]}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let badRoute = try await BatonProcess.run(["serve", "--config", config, "--socket", directory.file("s.sock")])
        #expect(badRoute.status == .exited(1))
        #expect(badRoute.stderr.contains("routes[0]: Invalid params: pathPrefix must be"), "\(badRoute)")
    }

    @Test(arguments: [
        (["--acme-directory", "http://ca.test/dir"], "--acme-directory must be an https:// URL"),
        (["--acme-email", "ops@example.com, me@example.com"], "--acme-email must be one address"),
        (["--acme-ca-root", "/nonexistent/roots.pem"], "--acme-ca-root: cannot read /nonexistent/roots.pem"),
    ])
    func badACMEFlagsAreRefusedWithTheReason(_ flags: [String], _ reason: String) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let run = try await BatonProcess.run(
            ["serve", "--socket", directory.file("s.sock"), "--state", directory.file("state")]
                + ["--http", "127.0.0.1:0", "--https", "127.0.0.1:0"] + flags
        )
        #expect(run.status != .exited(0))
        #expect(run.stderr.contains(reason), "\(run)")
    }
}
