import BatonTestSupport
import Foundation
import NIOHTTP1
import Subprocess
import Testing

/// examples/hello on its own: every endpoint the rollover tests rely on, and its exit on SIGTERM.
@Suite("Hello example app", .timeLimit(.minutes(1)))
struct HelloAppTests {
    @Test func servesItsEndpointsAndExitsAtOnceOnSigterm() async throws {
        let result = try await Subprocess.run(
            .name("python3"),
            arguments: ["-u", BatonProcess.repositoryPath("examples/hello/app.py")],
            environment: .inherit.updating(["PORT": "0", "VERSION": "vt"]),
            input: .none,
            output: .discarded,
            error: .sequence
        ) { execution in
            defer { try? execution.send(signal: .kill) }  // only matters if the test failed first
            var lines = execution.standardError.strings().makeAsyncIterator()
            let port = try await BatonProcess.listeningPort(&lines)
            let app = try #require(port)
            #expect(try await TestHTTPClient.send(port: app, host: "h").body == "hello from vt on port \(app)\n")
            #expect(try await TestHTTPClient.send(port: app, path: "/healthz", host: "h").status == 200)
            #expect(
                try await TestHTTPClient.send(port: app, path: "/slow?ms=20", host: "h").body == "slow answer from vt\n"
            )
            // The same POST twice, under one request id.
            func post() async throws -> TestHTTPClient.Response {
                try await TestHTTPClient.send(
                    port: app,
                    method: .POST,
                    path: "/echo",
                    host: "h",
                    headers: [("X-Request-Id", "r1")],
                    body: "one"
                )
            }
            let once = try await post()
            let twice = try await post()
            #expect(once.body == "one")
            #expect(once.headers.first { $0.0.lowercased() == "x-request-count" }?.1 == "1")
            #expect(twice.headers.first { $0.0.lowercased() == "x-request-count" }?.1 == "2")
            let put = try await TestHTTPClient.send(
                port: app,
                method: .PUT,
                path: "/data",
                host: "h",
                body: "0123456789"
            )
            #expect(put.body == "vt 10 84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882\n")

            let events = try await RawTCPClient.connect(port: app)
            try await events.send("GET /events?interval_ms=10 HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(try await events.read(until: "data: vt tick 2").contains("text/event-stream"))
            await events.close()

            let socket = try await RawTCPClient.connect(port: app)
            try await socket.send(
                "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            #expect(try await socket.read(until: "\r\n\r\n").contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
            try await socket.send(bytes: [0x81, 0x82, 0, 0, 0, 0] + Array("hi".utf8))  // a masked text frame
            #expect(try await socket.read(until: "hi").hasSuffix("hi"))
            await socket.close()

            try execution.send(signal: .terminate)
            while try await lines.next() != nil {}
        }
        #expect(result.terminationStatus == .exited(0), "SIGTERM ends it at once, without finishing anything")
    }
}
