import BatonIngress
import BatonJSON
import BatonRPC
import BatonTestSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// HTTP/2 to clients over HTTPS: each stream one exchange through the same routes, checks
/// and headers as HTTP/1.1, a rollover under h2load with no error, and the limits that keep
/// one hostile connection from costing anyone else anything.
extension IngressTests {
    static func echoRequest(_ name: String, delayMs: Int64 = 0) async throws -> TestBackend {
        try await TestBackend.start { head, body in
            let fields = ["cookie", "x-forwarded-proto", "x-forwarded-prefix", "content-length", "transfer-encoding"]
                .map {
                    "\($0)=\(head.headers[$0].joined(separator: ","))"
                }
            return TestBackend.Reply(
                body: "\(name) \(head.method) \(head.uri) \(fields.joined(separator: " ")) body=\(body)",
                delayMs: delayMs
            )
        }
    }

    /// A stage serving HTTPS, with `app` routed from `host` over it.
    func withHTTP2Stage(
        _ backends: [TestBackend],
        host: String = "shop.test",
        _ body: (inout Stage, Int, CertificateFiles) async throws -> Void
    ) async throws {
        try await withHTTP2Stage(urls: backends.map(\.url), host: host, body)
    }

    func withHTTP2Stage(
        urls: [String],
        host: String = "shop.test",
        _ body: (inout Stage, Int, CertificateFiles) async throws -> Void
    ) async throws {
        let files = try CertificateFiles()
        defer { files.directory.remove() }
        try await withHTTPSStage { stage, httpsPort in
            try await stage.live("v1", urls: urls, host: nil)
            _ = try await stage.admin.call(
                "route.set",
                [
                    "host": .string(host), "app": "shop", "tls": try files.write(host, for: [host]),
                    "hsts": ["maxAge": 60],
                ]
            )
            try await body(&stage, httpsPort, files)
        }
    }

    @Test func eachHTTP2StreamIsAnExchangeWithTheSameRoutesHeadersAndChecks() async throws {
        let (shop, api) = (try await Self.echoRequest("shop"), try await Self.echoRequest("api"))
        defer { Task { for backend in [shop, api] { await backend.stop() } } }
        try await withHTTP2Stage([shop]) { stage, httpsPort, files in
            try await stage.live("api-v1", [api], app: "api", host: nil)
            _ = try await stage.admin.call(
                "route.set",
                [
                    "host": "shop.test", "pathPrefix": "/api", "app": "api", "stripPrefix": true,
                    "tls": files.tls("shop.test"),
                ]
            )
            let client = try await TestHTTP2Client.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            let get = try await client.send(
                path: "/cart?x=1",
                host: "shop.test",
                headers: [("cookie", "a=1"), ("cookie", "b=2"), ("x-forwarded-proto", "http")]
            )
            #expect(get.status == 200)
            #expect(
                get.body
                    == "shop GET /cart?x=1 cookie=a=1; b=2 x-forwarded-proto=https x-forwarded-prefix= content-length= transfer-encoding= body="
            )
            #expect(get.headers["strict-transport-security"] == ["max-age=60"])
            let post = try await client.send(method: .POST, path: "/api/orders", host: "shop.test", body: "payload")
            #expect(
                post.body
                    == "api POST /orders cookie= x-forwarded-proto=https x-forwarded-prefix=/api content-length=7 transfer-encoding= body=payload"
            )
            // Many streams at once on the one connection, each answered whole.
            let answers = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<40 {
                    group.addTask { try await client.send(path: "/n/\(index)", host: "shop.test").status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(answers == Array(repeating: 200, count: 40))
            let unrouted = try await client.send(host: "other.test")
            #expect(unrouted.status == 404 && unrouted.body == "No route for host other.test and path /.\n")
            let trace = try await client.send(method: .TRACE, host: "shop.test", body: "x")
            #expect(trace.status == 400, "the HTTP/1.1 rules hold: TRACE with a body")
            #expect(try await client.send(host: "shop.test").status == 200, "the connection goes on after both")
            await client.close()
        }
    }

    @Test func aRapidResetFloodCostsItsSenderTheConnectionAndNobodyElseAnything() async throws {
        let shop = try await Self.echoRequest("shop")
        defer { Task { await shop.stop() } }
        try await withHTTP2Stage([shop]) { stage, httpsPort, files in
            let polite = try await TestHTTP2Client.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            #expect(try await polite.send(host: "shop.test").status == 200)
            let flood = try await RawHTTP2Client.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            var bytes: [UInt8] = []
            for index in 0..<1_000 {
                let stream = UInt32(1 + 2 * index)
                bytes +=
                    RawHTTP2Client.get(stream: stream, authority: "shop.test")
                    + RawHTTP2Client.rstStream(stream: stream)
            }
            try await flood.send(bytes)
            let frames = try await flood.until { _, closed in closed }
            let goAway = frames.first { $0.type == RawHTTP2Client.Frame.goAway }
            #expect(goAway?.errorCode == 0xB, "GOAWAY with ENHANCE_YOUR_CALM: \(frames.map(\.type))")
            #expect(try await polite.send(host: "shop.test").status == 200, "the other connection is served on")
            await polite.close()
        }
    }

    @Test func aClientOpeningThousandsOfStreamsPastTheLimitLosesItsConnectionAndNobodyElseAnything() async throws {
        let shop = try await Self.echoRequest("shop", delayMs: 200)
        defer { Task { await shop.stop() } }
        try await withHTTP2Stage([shop]) { stage, httpsPort, files in
            let polite = try await TestHTTP2Client.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            let greedy = try await RawHTTP2Client.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            try await greedy.send(
                (0..<2_000).flatMap { RawHTTP2Client.get(stream: UInt32(1 + 2 * $0), authority: "shop.test") }
            )
            let frames = try await greedy.until { _, closed in closed }
            let goAway = frames.first { $0.type == RawHTTP2Client.Frame.goAway }
            #expect(goAway?.errorCode == 0x1, "GOAWAY PROTOCOL_ERROR past SETTINGS_MAX_CONCURRENT_STREAMS (100)")
            let answered = Set(frames.filter { $0.type == RawHTTP2Client.Frame.headers }.map(\.stream))
            #expect(answered.count <= 100)
            #expect(try await polite.send(host: "shop.test").status == 200, "the other connection is served on")
            let metricsPort = try #require(stage.harness.host.metrics?.boundPort)
            let metrics = try await TestHTTPClient.send(port: metricsPort, path: "/metrics", host: "metrics").body
            #expect(metrics.contains(#"baton_ingress_h2_connection_errors_total{reason="MaxStreamsViolation"} 1"#))
            await polite.close()
        }
    }

    @Test func aQuiescingIngressSaysGoAwayAndFinishesTheStreamsItHas() async throws {
        let events = try await StreamingBackend.start(firstEvent: "one")
        defer { Task { await events.stop() } }
        try await withHTTP2Stage(urls: [events.url]) { stage, httpsPort, files in
            let client = try await RawHTTP2Client.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            try await client.send(RawHTTP2Client.get(stream: 1, authority: "shop.test"))
            // The stream is under way (its head and first event came) when the handover begins.
            _ = try await client.until { frames, _ in
                frames.contains { $0.type == RawHTTP2Client.Frame.headers && $0.stream == 1 }
            }
            let ingress = try #require(stage.harness.host.ingress)
            // Past the suite's limit, as the stage's TLS close timeout is: the quiesce returns
            // because the connection closed, once the client answered the host's close_notify.
            async let quiesced: Void = ingress.quiesce(deadline: .seconds(3_600))
            _ = try await client.until { frames, _ in frames.contains { $0.type == RawHTTP2Client.Frame.goAway } }
            try await events.send("two", last: true)
            let frames = try await client.until { _, closed in closed }
            await quiesced
            let goAway = try #require(frames.firstIndex { $0.type == RawHTTP2Client.Frame.goAway })
            #expect(frames[goAway].errorCode == 0, "NO_ERROR: a graceful GOAWAY")
            let end = try #require(
                frames.firstIndex { $0.type == RawHTTP2Client.Frame.data && $0.stream == 1 && $0.flags & 0x1 != 0 },
                "\(frames.map { "\($0.type)@\($0.stream):\($0.flags)" })"
            )
            #expect(goAway < end, "the stream under way ends after the GOAWAY, whole")
            let body = frames.filter { $0.type == RawHTTP2Client.Frame.data && $0.stream == 1 }.flatMap(\.payload)
            #expect(String(decoding: body, as: UTF8.self).contains("data: two"))
        }
    }
}

extension ProcessHeavySuites {
    /// h2load against the ingress through a rollover: it takes a core for seconds, so it takes
    /// its turn with the other heavy suites.
    @Suite("HTTP/2 rollover", .serialized, .timeLimit(.minutes(2)))
    struct HTTP2RolloverTests {
        @Test func aRolloverUnderH2LoadShowsNoError() async throws {
            let served = NIOLockedValueBox([String: Int]())
            let (loaded, underLoad) = AsyncStream.makeStream(of: Void.self)
            func backend(_ version: String) async throws -> TestBackend {
                try await TestBackend.start { _, _ in
                    let count = served.withLockedValue { served in
                        served[version, default: 0] += 1
                        return served[version, default: 0]
                    }
                    if version == "v1" && count == 2_000 { underLoad.yield() }
                    return TestBackend.Reply(body: "hello from \(version)")
                }
            }
            let (v1, v2) = (try await backend("v1"), try await backend("v2"))
            defer { Task { for backend in [v1, v2] { await backend.stop() } } }
            try await IngressTests().withHTTP2Stage([v1], host: "localhost") { stage, httpsPort, _ in
                async let load = BatonProcess.run(
                    ["-n", "12000", "-c", "4", "-m", "10", "https://localhost:\(httpsPort)/"],
                    program: "/usr/bin/h2load"
                )
                var waiting = loaded.makeAsyncIterator()
                _ = await waiting.next()  // v1 has served 2,000 of the load's requests
                try await stage.live("v2", [v2], host: nil)
                let (status, stdout, stderr) = try await load
                #expect(status == .exited(0), "\(stderr)")
                #expect(
                    stdout.contains(
                        "requests: 12000 total, 12000 started, 12000 done, 12000 succeeded, 0 failed, 0 errored, 0 timeout"
                    ),
                    "\(stdout)"
                )
                #expect(stdout.contains("status codes: 12000 2xx, 0 3xx, 0 4xx, 0 5xx"), "\(stdout)")
                let counts = served.withLockedValue { $0 }
                #expect(counts["v2", default: 0] > 0, "the rollover came during the load: \(counts)")
            }
        }
    }
}
