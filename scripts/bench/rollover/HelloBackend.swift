import BatonLoad
import BatonPlugins
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// One examples/hello process on a port of its own, as a peer proxy's operator would run
/// it: started by hand, stopped with SIGTERM (on which it exits at once).
final class HelloBackend: Sendable {
    let version: String
    let port: Int
    private let process: BackgroundChild

    /// `neverReady` runs a process that never listens, for the never-ready deploy.
    init(version: String, appDirectory: String, logFile: String, neverReady: Bool = false) throws {
        self.version = version
        port = try FreePort.pick()
        let command =
            neverReady
            ? ChildCommand(command: "python3", arguments: ["-c", "import time; time.sleep(3600)"], grace: .seconds(2))
            : ChildCommand(
                command: "python3",
                arguments: ["-u", "app.py"],
                environment: ["PORT": String(port), "VERSION": version],
                workingDirectory: appDirectory,
                grace: .seconds(2)
            )
        process = BackgroundChild(command, log: logFile)
    }

    /// When /healthz first answered 200, or nil after `timeout`.
    func waitHealthy(timeout: Duration) async -> ContinuousClock.Instant? {
        await Self.waitAnswering(port: port, timeout: timeout)
    }

    /// SIGTERM, and wait until it is gone.
    func stop() async {
        await process.stop()
    }

    /// Polls `GET /healthz` on `port` every 5 ms; returns when it first answers 200, or nil
    /// after `timeout`.
    static func waitAnswering(port: Int, timeout: Duration) async -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await answers(port: port, path: "/healthz") != nil { return .now }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// One GET on a fresh connection; the body when it answered 200.
    static func answers(port: Int, path: String, hostHeader: String = "hello.localhost") async -> String? {
        guard let connection = try? await LoadConnection.connect(host: "127.0.0.1", port: port) else { return nil }
        defer { Task { await connection.close() } }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        guard let response = try? await connection.request(.GET, path, headers: headers), response.status == 200 else {
            return nil
        }
        return String(buffer: response.body)
    }
}
