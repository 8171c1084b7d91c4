import BatonLoad
import BatonPlugins
import NIOConcurrencyHelpers
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// One examples/hello process on a port of its own, as a peer proxy's operator would run
/// it: started by hand, stopped with SIGTERM (on which it exits at once).
final class HelloBackend: Sendable {
    let version: String
    let port: Int
    private let running: Task<Void, Never>
    private let pid = NIOLockedValueBox<Int32?>(nil)

    /// `neverReady` runs a process that never listens, for the never-ready deploy.
    init(version: String, appDirectory: String, logFile: String, neverReady: Bool = false) throws {
        self.version = version
        port = try FreePort.pick()
        let command =
            neverReady
            ? ChildCommand(command: "python3", arguments: ["-c", "import time; time.sleep(3600)"], grace: .seconds(2))
            : ChildCommand(
                command: "python3", arguments: ["-u", "app.py"], environment: ["PORT": String(port), "VERSION": version],
                workingDirectory: appDirectory, grace: .seconds(2))
        let pid = self.pid
        running = Task {
            _ = try? await ChildProcess.run(command, output: .file(logFile)) { started in pid.withLockedValue { $0 = started } }
        }
    }

    /// Polls /healthz every 5 ms; returns when it first answers 200, or nil after `timeout`.
    func waitHealthy(timeout: Duration) async -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await Self.answers(port: port, path: "/healthz") != nil { return .now }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// SIGTERM, and wait until it is gone.
    func stop() async {
        running.cancel()
        await running.value
    }

    /// One GET on a fresh connection; the body when it answered 200.
    static func answers(port: Int, path: String, hostHeader: String = "hello.localhost") async -> String? {
        guard let connection = try? await LoadConnection.connect(host: "127.0.0.1", port: port) else { return nil }
        defer { Task { await connection.close() } }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        guard let response = try? await connection.request(.GET, path, headers: headers), response.status == 200 else { return nil }
        return String(buffer: response.body)
    }
}
