import BatonPlugins
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// HAProxy with one thread and two server slots; switching goes through its runtime API
/// (the admin socket): the idle slot gets the new address and is made ready, the busy one is
/// put in maintenance, which lets its requests in flight finish.
final class HAProxySwitch: TrafficSwitch {
    let name = "HAProxy"
    let port: Int
    private let directory: String
    private var adminSocket: String { directory + "/admin.sock" }
    private let process = NIOLockedValueBox<BackgroundChild?>(nil)
    /// The slot taking traffic: "blue" or "green".
    private let live = NIOLockedValueBox("blue")

    init(directory: String) throws {
        self.directory = directory
        port = try FreePort.pick()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func start(backendPort: Int) async throws {
        let config = """
            global
              nbthread 1
              stats socket \(adminSocket) level admin
            defaults
              mode http
              timeout connect 2s
              timeout client 30s
              timeout server 30s
              option http-keep-alive
            frontend front
              bind 127.0.0.1:\(port)
              default_backend app
            backend app
              http-reuse always
              server blue 127.0.0.1:\(backendPort)
              server green 127.0.0.1:\(backendPort) disabled

            """
        try config.write(toFile: directory + "/haproxy.cfg", atomically: true, encoding: .utf8)
        let command = ChildCommand(
            command: "haproxy",
            arguments: ["-f", directory + "/haproxy.cfg"],
            grace: .seconds(5)
        )
        let log = directory + "/output.log"
        process.withLockedValue { $0 = BackgroundChild(command, log: log) }
        guard await HelloBackend.waitAnswering(port: port, timeout: .seconds(10)) != nil else {
            throw SwitchFailure(description: "HAProxy did not start; see \(log)")
        }
    }

    func route(to backendPort: Int) async throws {
        let old = live.withLockedValue { $0 }
        let new = old == "blue" ? "green" : "blue"
        let answer = try await command(
            "set server app/\(new) addr 127.0.0.1 port \(backendPort); set server app/\(new) state ready; set server app/\(old) state maint"
        )
        guard !answer.contains("No such") && !answer.lowercased().contains("error") else {
            throw SwitchFailure(description: "HAProxy refused the switch: \(answer)")
        }
        live.withLockedValue { $0 = new }
    }

    func stop() async {
        await process.withLockedValue { $0 }?.stop()
    }

    /// One runtime API command line; HAProxy answers and closes the connection.
    private func command(_ line: String) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: adminSocket) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: line + "\n"))
            var answer = ""
            for try await chunk in inbound { answer += String(buffer: chunk) }
            return answer
        }
    }
}
