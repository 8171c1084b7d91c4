import BatonTestSupport
import Foundation
import Subprocess
import Testing

/// Hostile bytes on the RPC socket, whatever the sender's role: every method of every role with
/// each of its params replaced by extreme numbers, wrong types, NUL, CRLF, long strings and deep
/// nesting, then garbage lines and huge batches. After each round the host answers `host.ping`
/// on a fresh connection; at the end it has stayed within a memory bound and starts again on
/// its own state.
@Suite("Hostile bytes on the socket", .timeLimit(.minutes(3)))
struct SocketFuzzTests {
    /// The methods of each role, with params that are valid or nearly so; each member is then
    /// replaced by every hostile value in turn.
    private static let methods: [(role: String, method: String, params: [String: String])] = [
        (
            "admin", "app.deploy",
            [
                "app": #""fz""#, "version": #""v1""#, "readyTimeoutMs": "1000", "drainTimeoutMs": "0",
                "onTimeout": #""rollback""#,
                "services":
                    #"[{"name":"web","instances":1,"spec":{"command":"true"},"slots":2,"minReady":1,"health":{"path":"/"}}]"#,
            ]
        ),
        ("admin", "app.status", ["app": #""fz""#]),
        ("admin", "route.set", ["host": #""fz.test""#, "app": #""fz""#]),
        ("admin", "route.remove", ["host": #""fz.test""#]),
        ("admin", "events.watch", ["apps": #"["fz"]"#]),
        (
            "admin", "ingress.request",
            [
                "app": #""fz""#, "service": #""web""#, "method": #""GET""#, "path": #""/""#, "headers": #"{"X-A":"b"}"#,
                "body": #""aGk=""#,
                "timeoutMs": "50",
            ]
        ),
        (
            "router", "lease.acquire",
            ["app": #""fz""#, "service": #""web""#, "slots": "1", "waitMs": "0", "exclude": #"["s"]"#]
        ),
        ("router", "lease.renew", ["lease": #""l-1""#]),
        ("router", "lease.release", ["lease": #""l-1""#]),
        ("router", "lease.invalidate", ["lease": #""l-1""#, "reason": #""fz""#]),
        ("router", "lease.watch", ["apps": #"["fz"]"#]),
        ("scheduler", "scheduler.subscribe", [:]),
        (
            "scheduler", "scheduler.report",
            [
                "sandbox": #""s1""#, "pool": #""p-1""#, "state": #""ready""#, "url": #""http://127.0.0.1:9""#,
                "reason": #""fz""#,
            ]
        ),
        ("scheduler", "scheduler.sync", ["sandboxes": #"[{"sandbox":"s1","pool":"p-1","state":"starting"}]"#]),
    ]

    private static let hostileValues: [String] = [
        "9223372036854775807", "-9223372036854775808", "-1", "0", "1e308", "1.5", #""""#, #""\u0000""#, #""a\r\nb""#,
        "\"" + String(repeating: "x", count: 70_000) + "\"", "[]", "{}", "null", "true",
        String(repeating: "[", count: 3_000) + String(repeating: "]", count: 3_000),
    ]

    /// Lines no client should send at all.
    private static let garbage: [String] = [
        "[" + Array(repeating: #"{"jsonrpc":"2.0","method":"host.ping","id":1}"#, count: 5_000).joined(separator: ",")
            + "]",
        String(repeating: "{\"a\":", count: 5_000),
        "\u{0}\u{1}\u{2} not json",
        #"{"jsonrpc":"2.0","method":"host.ping","id":{"deep":[1,2,3]}}"#,
        #"{"jsonrpc":"2.0","method":"host.hello","id":2,"params":{"protocol":"baton/1","role":"admin","client":{"name":"x","version":"1"}}}"#,
        String(repeating: "y", count: 1_200_000),
    ]

    private static func hello(_ role: String) -> String {
        #"{"jsonrpc":"2.0","id":"hello","method":"host.hello","params":{"protocol":"baton/1","role":"\#(role)","client":{"name":"fuzz","version":"1"}}}"#
    }

    private static func call(_ method: String, _ params: [String: String], id: Int) -> String {
        let members = params.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
        return #"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":{\#(members)}}"#
    }

    /// Sends `lines` on a new session of `role`, then a ping, and waits for the ping's answer:
    /// everything before it has taken effect.
    private static func round(socket: String, role: String, lines: [String], tag: String) async throws {
        let client = try await RawTCPClient.connect(unixPath: socket)
        defer { Task { await client.close() } }
        try await client.send(hello(role) + "\n")
        _ = try await client.read(until: "\"hello\"")
        for line in lines { try await client.send(line + "\n") }
        try await client.send(#"{"jsonrpc":"2.0","id":"\#(tag)","method":"host.ping"}"# + "\n")
        _ = try await client.read(until: "\"\(tag)\"")
    }

    private static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    @Test func everyMethodWithHostileParamsLeavesTheHostServingBoundedAndRestartable() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("baton.sock")
        let arguments = ["--socket", socket, "--state", directory.file("state"), "--http", "127.0.0.1:0"]
        let (growth, _) = try await BatonProcess.serving(arguments) { execution, log in
            try await log.waitFor("rpc socket listening")
            let pid = execution.processIdentifier.value
            try await Self.round(socket: socket, role: "admin", lines: [], tag: "warm")
            let before = Self.residentKiB(pid)
            var id = 0
            for (index, entry) in Self.methods.enumerated() {
                var lines: [String] = []
                for key in entry.params.keys.sorted() {
                    for value in Self.hostileValues {
                        id += 1
                        var params = entry.params
                        params[key] = value
                        lines.append(Self.call(entry.method, params, id: id))
                    }
                }
                lines.append(Self.call(entry.method, entry.params, id: -index))
                try await Self.round(socket: socket, role: entry.role, lines: lines, tag: "after-\(entry.method)")
            }
            for (index, line) in Self.garbage.enumerated() {
                try await Self.round(socket: socket, role: "admin", lines: [line], tag: "garbage-\(index)")
            }
            let ping = try await BatonProcess.run(["rpc", "--socket", socket, "host.ping"])
            #expect(ping.stdout == "{}\n", "the host still answers on a new connection")
            let growth = Self.residentKiB(pid) - before
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return growth
        }
        #expect(growth < 200_000, "the host grew by \(growth) KiB")
        let (again, status) = try await BatonProcess.serving(arguments) { execution, log in
            try await log.waitFor("rpc socket listening")
            let ping = try await BatonProcess.run(["rpc", "--socket", socket, "host.ping"])
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return ping.stdout
        }
        #expect(again == "{}\n", "the host starts again on the state it wrote")
        #expect(status == .exited(0))
    }
}
