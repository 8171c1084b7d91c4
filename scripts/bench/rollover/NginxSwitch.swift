import BatonPlugins
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// nginx with one worker and upstream keep-alive; switching rewrites its config and reloads
/// it (SIGHUP): new workers take new connections, old ones finish theirs and close.
final class NginxSwitch: TrafficSwitch {
    let name = "nginx"
    let port: Int
    private let directory: String
    private let master = NIOLockedValueBox<BackgroundChild?>(nil)

    init(directory: String) throws {
        self.directory = directory
        port = try FreePort.pick()
        for sub in ["logs", "temp"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
    }

    func start(backendPort: Int) async throws {
        try writeConfig(backendPort: backendPort)
        let command = ChildCommand(
            command: "nginx",
            arguments: ["-p", directory + "/", "-c", directory + "/nginx.conf"],
            grace: .seconds(5)
        )
        let log = directory + "/logs/output.log"
        master.withLockedValue { $0 = BackgroundChild(command, log: log) }
        guard await HelloBackend.waitAnswering(port: port, timeout: .seconds(10)) != nil else {
            throw SwitchFailure(description: "nginx did not start; see \(log)")
        }
    }

    func route(to backendPort: Int) async throws {
        try writeConfig(backendPort: backendPort)
        guard let pid = master.withLockedValue({ $0?.pid }), kill(pid, SIGHUP) == 0 else {
            throw SwitchFailure(description: "cannot signal nginx to reload")
        }
    }

    func stop() async {
        await master.withLockedValue { $0 }?.stop()
    }

    private func writeConfig(backendPort: Int) throws {
        let temp = directory + "/temp"
        let config = """
            \(getuid() == 0 ? "user root;" : "")
            worker_processes 1; daemon off; pid \(directory)/nginx.pid; error_log \(directory)/logs/error.log;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_body_buffer_size 64k; client_body_temp_path \(temp)/body; proxy_temp_path \(temp)/proxy;
              fastcgi_temp_path \(temp)/fastcgi; uwsgi_temp_path \(temp)/uwsgi; scgi_temp_path \(temp)/scgi;
              upstream app { server 127.0.0.1:\(backendPort); keepalive 64; }
              server {
                listen 127.0.0.1:\(port);
                location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; }
              }
            }
            """
        try config.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
    }
}
