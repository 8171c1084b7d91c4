import BatonTestSupport
import Subprocess
import Testing

/// What sandboxes send back is read with the same strict codec as what clients send: every
/// framing a sandbox may use reaches the client whole, and what could be read two ways is a 502,
/// never passed on.
extension IngressTests {
    /// A sandbox written byte by byte: one answer per connection, chosen by the request's path,
    /// then the connection closes. It prints its port first.
    private static let rawSandbox = #"""
        import socket, sys
        answers = {
            b"/until-close": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nread until the close",
            b"/informational": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfinal",
            b"/chunked": b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nchun\r\n3\r\nked\r\n0\r\nX-Trailer: 1\r\n\r\n",
            b"/http10": b"HTTP/1.0 200 OK\r\n\r\nan HTTP/1.0 body",
            b"/both-framings": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"/bad-status": b"HTTP/1.1 2000 OK\r\nConnection: close\r\n\r\n",
            b"/unasked-switch": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        }
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        print(server.getsockname()[1], flush=True)
        while True:
            connection, _ = server.accept()
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                head += chunk
            if head:
                path = head.split(b" ")[1]
                connection.sendall(answers.get(path, b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
            connection.close()
        """#

    @Test func everyFramingASandboxMayUseReachesTheClientWholeAndAmbiguityIs502() async throws {
        let result = try await Subprocess.run(
            .name("python3"),
            arguments: ["-c", Self.rawSandbox],
            input: .none,
            output: .sequence,
            error: .discarded
        ) { execution in
            defer { try? execution.send(signal: .kill) }
            var lines = execution.standardOutput.strings().makeAsyncIterator()
            let port = try #require(
                try await lines.next().flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            )
            try await withStage { stage in
                try await stage.live("v1", urls: ["http://127.0.0.1:\(port)"])
                let whole: [(String, String)] = [
                    ("/until-close", "read until the close"),
                    ("/informational", "final"),
                    ("/chunked", "chunked"),
                    ("/http10", "an HTTP/1.0 body"),
                ]
                for (path, body) in whole {
                    let answer = try await stage.get(path)
                    #expect(answer.status == 200 && answer.body == body, "\(path): \(answer.status) \(answer.body)")
                }
                // The sandbox got the request and answered: no retry, no wait for another one.
                for (path, why) in [
                    ("/both-framings", "does not forward"), ("/bad-status", "does not forward"),
                    ("/unasked-switch", "did not ask to"),
                ] {
                    let answer = try await stage.get(path)
                    #expect(
                        answer.status == 502 && answer.body.contains(why),
                        "\(path): \(answer.status) \(answer.body)"
                    )
                }
            }
        }
        _ = result
    }
}
