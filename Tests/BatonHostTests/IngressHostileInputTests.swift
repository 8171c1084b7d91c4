import BatonJSON
import BatonRPC
import BatonTestSupport
import NIOConcurrencyHelpers
import NIOHTTP1
import Testing

/// Hostile request heads (RFC 9112 §3 and §6): each is refused with the right status or
/// framed by the proxy itself, nothing the proxy did not frame reaches the sandbox, and a
/// normal request on a new connection is served afterwards.
extension IngressTests {
    /// What a sandbox received: method, target, Host and body of every request.
    final class Recorder: Sendable {
        struct Seen: Sendable, Equatable {
            var method: String
            var target: String
            var host: String?
            var requestID: String?
            var body: String
        }

        private let seen = NIOLockedValueBox<[Seen]>([])

        var requests: [Seen] { seen.withLockedValue { $0 } }

        func backend() async throws -> TestBackend {
            try await TestBackend.start { [seen] head, body in
                seen.withLockedValue {
                    $0.append(
                        Seen(
                            method: head.method.rawValue,
                            target: head.uri,
                            host: head.headers.first(name: "host"),
                            requestID: head.headers.first(name: "x-request-id"),
                            body: body
                        )
                    )
                }
                return TestBackend.Reply(body: "served")
            }
        }
    }

    private static let smuggled = "GET /smuggled HTTP/1.1\r\nHost: shop.test\r\n\r\n"

    /// Sends `request` on its own connection and returns the status line of the answer.
    private func statusLine(_ stage: Stage, _ request: String) async throws -> Substring {
        let client = try await stage.raw(request)
        defer { Task { await client.close() } }
        let answer = try await client.read(until: "\r\n")
        return answer.split(separator: "\r\n").first ?? ""
    }

    @Test func aBodyOnAGetIsFramedByTheProxySoNothingIsSmuggled() async throws {
        let recorder = Recorder()
        let backend = try await recorder.backend()
        defer { Task { await backend.stop() } }
        try await withStage { stage in
            try await stage.live("v1", [backend])
            let chunk = String(Self.smuggled.utf8.count, radix: 16)
            for method in ["GET", "DELETE", "OPTIONS"] {
                let chunked =
                    "\(method) /a HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n\(chunk)\r\n\(Self.smuggled)\r\n0\r\n\r\n"
                #expect(try await statusLine(stage, chunked) == "HTTP/1.1 200 OK")
                let hidden =
                    "\(method) /b HTTP/1.1\r\nHost: shop.test\r\nContent-Length: \(Self.smuggled.utf8.count)\r\n"
                    + "Connection: Content-Length\r\n\r\n\(Self.smuggled)"
                #expect(try await statusLine(stage, hidden) == "HTTP/1.1 200 OK")
            }
            #expect(try await stage.get("/after").body == "served")
            let requests = recorder.requests
            #expect(!requests.contains { $0.target == "/smuggled" }, "a body was read as a request")
            #expect(requests.filter { $0.target == "/a" || $0.target == "/b" }.allSatisfy { $0.body == Self.smuggled })
            #expect(requests.count == 7, "\(requests.map { "\($0.method) \($0.target) \($0.body.utf8.count)" })")
        }
    }

    @Test func badHostsFramingAndMethodsAreRefusedAndReachNoSandbox() async throws {
        let recorder = Recorder()
        let backend = try await recorder.backend()
        defer { Task { await backend.stop() } }
        try await withStage { stage in
            try await stage.live("v1", [backend])
            let refused: [(String, String)] = [
                ("GET / HTTP/1.1\r\nHost: shop.test\r\nHost: other.test\r\n\r\n", "400"),
                ("GET / HTTP/1.1\r\nX-No-Host: 1\r\n\r\n", "400"),
                ("GET / HTTP/1.1\r\nHost: shop.test@evil.test\r\n\r\n", "400"),
                ("GET / HTTP/1.1\r\nHost: shop.test:80x\r\n\r\n", "400"),
                ("CONNECT shop.test:443 HTTP/1.1\r\nHost: shop.test:443\r\n\r\n", "405"),
                (
                    "POST / HTTP/1.0\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                    "400"
                ),
                ("POST / HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501"),
                ("GET nowhere HTTP/1.1\r\nHost: shop.test\r\n\r\n", "400"),
                (
                    "TRACE / HTTP/1.1\r\nHost: shop.test\r\nContent-Length: \(Self.smuggled.utf8.count)\r\n\r\n\(Self.smuggled)",
                    "400"
                ),
            ]
            for (request, status) in refused {
                let line = try await statusLine(stage, request)
                #expect(
                    line.hasPrefix("HTTP/1.\(request.contains("HTTP/1.0") ? "0" : "1") \(status)"),
                    "\(request.debugDescription) → \(line)"
                )
                #expect(try await stage.get("/after").body == "served")
            }
            #expect(recorder.requests.allSatisfy { $0.target == "/after" }, "a refused request reached the sandbox")
        }
    }

    /// The framing rules of RFC 9112 §6 and §5: every way to make the proxy and a sandbox
    /// disagree on where a request ends is refused before anything reaches a sandbox.
    @Test func ambiguousFramingIsRefusedWith400AndReachesNoSandbox() async throws {
        let recorder = Recorder()
        let backend = try await recorder.backend()
        defer { Task { await backend.stop() } }
        try await withStage { stage in
            try await stage.live("v1", [backend])
            let head = "POST / HTTP/1.1\r\nHost: shop.test\r\n"
            let refused: [(what: String, request: String)] = [
                (
                    "Content-Length with Transfer-Encoding",
                    head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                ),
                ("two different Content-Lengths", head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
                ("a negative Content-Length", head + "Content-Length: -1\r\n\r\n"),
                ("a Content-Length that is not digits", head + "Content-Length: 1e3\r\n\r\n"),
                ("chunked not last", head + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
                ("obs-fold", "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Folded: a\r\n b\r\n\r\n"),
                ("NUL in a value", "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Nul: a\u{0}b\r\n\r\n"),
                ("CR in a value", "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Cr: a\rb\r\n\r\n"),
                ("whitespace before the colon", "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Space : 1\r\n\r\n"),
                (
                    "a chunk size past 64 bits",
                    head + "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nx\r\n0\r\n\r\n"
                ),
                ("bare LF line endings", "GET / HTTP/1.1\nHost: shop.test\n\n"),
            ]
            for (what, request) in refused {
                let line = try await statusLine(stage, request)
                #expect(line.hasPrefix("HTTP/1.1 400"), "\(what): \(request.debugDescription) → \(line)")
                #expect(try await stage.get("/after").body == "served")
            }
            #expect(recorder.requests.allSatisfy { $0.target == "/after" }, "a refused request reached the sandbox")
        }
    }

    @Test func anAbsoluteFormTargetIsRoutedByItsAuthorityNotTheHostHeader() async throws {
        let recorder = Recorder()
        let backend = try await recorder.backend()
        defer { Task { await backend.stop() } }
        try await withStage { stage in
            try await stage.live("v1", [backend])
            let line = try await statusLine(
                stage,
                "GET http://shop.test/x?y=1 HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n"
            )
            #expect(line == "HTTP/1.1 200 OK")
            let unrouted = try await statusLine(
                stage,
                "GET http://elsewhere.test/x HTTP/1.1\r\nHost: shop.test\r\n\r\n"
            )
            #expect(unrouted.hasPrefix("HTTP/1.1 404"))
            #expect(recorder.requests.map { [$0.target, $0.host ?? "-"] } == [["/x?y=1", "shop.test"]])
        }
    }

    @Test func anUpgradeTheSandboxDeclinesReachesItOnceWithItsBody() async throws {
        let recorder = Recorder()
        let backend = try await recorder.backend()
        defer { Task { await backend.stop() } }
        try await withStage { stage in
            try await stage.live("v1", [backend])
            let upgrade = "GET /ws HTTP/1.1\r\nHost: shop.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            let plain = try await stage.raw(upgrade + "\r\n")
            defer { Task { await plain.close() } }
            #expect(
                try await plain.untilClosed().hasPrefix("HTTP/1.1 200 OK"),
                "a declined upgrade is answered, then the connection ends"
            )
            let withBody = try await stage.raw(upgrade + "Content-Length: 5\r\n\r\nhello")
            defer { Task { await withBody.close() } }
            #expect(try await withBody.untilClosed().hasPrefix("HTTP/1.1 200 OK"))
            let requests = recorder.requests
            #expect(requests.count == 2, "each upgrade request reached the sandbox once")
            #expect(requests.map(\.body) == ["", "hello"])
            #expect(requests.allSatisfy { !($0.requestID ?? "").isEmpty })
        }
    }

    @Test func internalRequestsWithInjectedLinesOrHugeTimeoutsAreRefused() async throws {
        let recorder = Recorder()
        let backend = try await recorder.backend()
        defer { Task { await backend.stop() } }
        try await withStage { stage in
            try await stage.live("v1", [backend])
            let injected: [JSON] = [
                ["app": "shop", "method": "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /smuggled"],
                ["app": "shop", "path": "/ HTTP/1.1\r\nX: y"],
                ["app": "shop", "headers": ["X-Evil": "a\r\n\r\nGET /smuggled HTTP/1.1"]],
                ["app": "shop", "headers": ["Bad Name": "a"]],
                ["app": "shop", "timeoutMs": .int(.max)],
                ["app": "shop", "timeoutMs": 0],
            ]
            for params in injected {
                do {
                    _ = try await stage.admin.call("ingress.request", params)
                    Issue.record("accepted \(params)")
                } catch let error as RPCError {
                    #expect(error.code == -32602, "\(error.message)")
                }
            }
            #expect(try await stage.admin.call("host.ping") == [:])
            #expect(try await stage.admin.call("ingress.request", ["app": "shop", "path": "/fine"])["status"] == 200)
            #expect(recorder.requests.map(\.target) == ["/fine"])
        }
    }
}
