import BatonIngress
import BatonJSON
import BatonRPC
import BatonTLS
import BatonTestSupport
import Foundation
import NIOCore
import Testing

/// HTTPS through the ingress: a certificate per host by SNI, read from files that can be
/// replaced while connections stay open, redirects and HSTS per route, and handshakes that
/// go wrong closing only their own connection.
extension IngressTests {
    /// Certificates signed by a CA of the test's own, in a directory that goes with it.
    struct CertificateFiles {
        let authority: CertificateAuthority
        let directory = TemporaryDirectory()

        init() throws {
            authority = try CertificateAuthority(name: "Baton test CA")
        }

        /// Writes a certificate for `names` as `NAME.pem` and `NAME.key`; returns the route's `tls`.
        @discardableResult
        func write(_ name: String, for names: [String], notAfter: Date = Date() + 90 * 86_400) throws -> JSON {
            let (chain, key) = try authority.issue(for: names, notAfter: notAfter)
            // Replaced as a deploy tool would: written aside, then renamed over the old file.
            for (file, text) in [(name + ".pem", chain), (name + ".key", key)] {
                try text.write(toFile: directory.file(file + ".new"), atomically: false, encoding: .utf8)
                try #require(rename(directory.file(file + ".new"), directory.file(file)) == 0, "errno \(errno)")
            }
            return tls(name)
        }

        func tls(_ name: String) -> JSON {
            ["cert": .string(directory.file(name + ".pem")), "key": .string(directory.file(name + ".key"))]
        }

        func client(naming serverName: String?) throws -> TestHTTPClient.TLS {
            TestHTTPClient.TLS(trusting: try authority.certificatePEM, serverName: serverName)
        }
    }

    func withHTTPSStage(_ body: (inout Stage, Int) async throws -> Void) async throws {
        try await withStage(
            adjust: { ingress in
                ingress.https = ListenAddress(host: "127.0.0.1", port: 0)
                // A connection the host closes ends when its client answers close_notify: a
                // test waiting for a close that waited for this instead would pass its limit.
                ingress.tlsCloseTimeout = .seconds(3_600)
            },
            // The tests refresh the certificates themselves, when they have replaced a file.
            configureHost: { $0.certificateCheckMs = 86_400_000 }
        ) { stage in
            let httpsPort = try #require(stage.harness.host.ingress?.httpsPort)
            try await body(&stage, httpsPort)
        }
    }

    static func echoScheme(_ name: String) async throws -> TestBackend {
        try await TestBackend.start { head, _ in
            TestBackend.Reply(
                headers: [("Strict-Transport-Security", "max-age=1")],
                body: "\(name) \(head.uri) proto=\(head.headers["x-forwarded-proto"].joined(separator: ","))"
            )
        }
    }

    @Test func eachHostIsServedWithItsOwnCertificateAndPlainHTTPIsRedirectedWhereARouteSaysSo() async throws {
        let files = try CertificateFiles()
        defer { files.directory.remove() }
        let (shop, api) = (try await Self.echoScheme("shop"), try await Self.echoScheme("api"))
        defer { Task { for backend in [shop, api] { await backend.stop() } } }
        try await withHTTPSStage { stage, httpsPort in
            try await stage.live("v1", [shop], host: nil)
            try await stage.live("api-v1", [api], app: "api", host: nil)
            _ = try await stage.admin.call(
                "route.set",
                [
                    "host": "shop.test", "app": "shop", "tls": try files.write("shop", for: ["shop.test"]),
                    "redirectToHttps": true, "hsts": ["maxAge": 600, "includeSubDomains": true],
                ]
            )
            _ = try await stage.admin.call(
                "route.set",
                ["host": "api.test", "app": "api", "tls": try files.write("api", for: ["api.test"])]
            )

            let differentTLS = await #expect(throws: RPCError.self) {
                try await stage.admin.call("route.set", ["host": "shop.test", "pathPrefix": "/plain", "app": "shop"])
            }
            #expect(differentTLS?.code == 3001, "one certificate serves a host, whatever the path")
            let redirectWithoutTLS = await #expect(throws: RPCError.self) {
                try await stage.admin.call("route.set", ["host": "plain.test", "app": "shop", "redirectToHttps": true])
            }
            #expect(redirectWithoutTLS?.code == -32602)

            let secure = try await TestHTTPClient.send(
                port: httpsPort,
                path: "/cart?item=1",
                host: "shop.test",
                headers: [("X-Forwarded-Proto", "http")],
                tls: try files.client(naming: "shop.test")
            )
            #expect(secure.status == 200 && secure.body == "shop /cart?item=1 proto=https")
            #expect(secure.headers["strict-transport-security"] == ["max-age=600; includeSubDomains"])
            let other = try await TestHTTPClient.send(
                port: httpsPort,
                host: "api.test",
                tls: try files.client(naming: "api.test")
            )
            #expect(other.body == "api / proto=https", "the api.test certificate verified for api.test")
            #expect(other.headers["strict-transport-security"] == ["max-age=1"], "no policy of its own: the app's")
            // A connection the host closes is gone once the client answers its close_notify.
            let closing = try await TestHTTPClient.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            let last = try await closing.send(host: "shop.test", headers: [("Connection", "close")])
            #expect(last.status == 200 && last.headers["connection"] == ["close"])
            try await closing.closed.get()

            let plain = try await stage.get("/cart?item=1", method: .POST, body: "kept")
            #expect(plain.status == 308)
            #expect(plain.headers["location"] == ["https://shop.test:\(httpsPort)/cart?item=1"])
            #expect(plain.headers["strict-transport-security"].isEmpty, "never over plain HTTP (RFC 6797 §7.2)")
            let notRedirected = try await stage.get(host: "api.test")
            #expect(notRedirected.body == "api / proto=http")

            // No route serves nowhere.test over HTTPS: no certificate, no handshake. The
            // request is sent after the refusal closed the connection, and fails.
            let refused = try await TestHTTPClient.connect(
                port: httpsPort,
                tls: try files.client(naming: "nowhere.test")
            )
            try await refused.closed.get()
            let wrongName = await #expect(throws: (any Error).self) { try await refused.send(host: "shop.test") }
            #expect(wrongName != nil)
        }
    }

    @Test func aCertificateReplacedOnDiskServesNewHandshakesWhileOpenConnectionsGoOn() async throws {
        let files = try CertificateFiles()
        defer { files.directory.remove() }
        let shop = try await Self.echoScheme("shop")
        defer { Task { await shop.stop() } }
        try await withHTTPSStage { stage, httpsPort in
            try await stage.live("v1", [shop], host: nil)
            let firstExpiry = Date() + 30 * 86_400
            _ = try await stage.admin.call(
                "route.set",
                [
                    "host": "shop.test", "app": "shop",
                    "tls": try files.write("shop", for: ["shop.test"], notAfter: firstExpiry),
                ]
            )
            let open = try await TestHTTPClient.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            #expect(try await open.send(host: "shop.test").status == 200)
            let first = try #require(try await open.peerCertificateNotAfter())
            #expect(abs(first - Int64(firstExpiry.timeIntervalSince1970)) <= 1)

            try files.write("shop", for: ["shop.test"], notAfter: firstExpiry + 30 * 86_400)
            // What the watcher does every tls.certificateCheckMs, done now.
            try #require(stage.harness.host.certificates).refresh(now: Int64(Date().timeIntervalSince1970))
            let fresh = try await TestHTTPClient.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            _ = try await fresh.send(host: "shop.test")
            let renewed = try #require(try await fresh.peerCertificateNotAfter())
            await fresh.close()
            #expect(
                abs(renewed - Int64((firstExpiry + 30 * 86_400).timeIntervalSince1970)) <= 1,
                "a new handshake gets the renewed certificate"
            )
            #expect(try await open.send(host: "shop.test").status == 200, "the open connection goes on")
            #expect(try await open.peerCertificateNotAfter() == first, "with the certificate it began with")
            await open.close()

            // The route names other files: the next handshake takes them, no refresh needed.
            let otherExpiry = firstExpiry + 60 * 86_400
            _ = try await stage.admin.call(
                "route.set",
                [
                    "host": "shop.test", "app": "shop",
                    "tls": try files.write("shop-other", for: ["shop.test"], notAfter: otherExpiry),
                ]
            )
            let moved = try await TestHTTPClient.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            _ = try await moved.send(host: "shop.test")
            let seen = try #require(try await moved.peerCertificateNotAfter())
            await moved.close()
            #expect(abs(seen - Int64(otherExpiry.timeIntervalSince1970)) <= 1, "the route's new files serve")
        }
    }

    @Test func aMissingCertificateIsLoggedAndCountedAndServesOnceItIsThere() async throws {
        let files = try CertificateFiles()
        defer { files.directory.remove() }
        let shop = try await Self.echoScheme("shop")
        defer { Task { await shop.stop() } }
        try await withHTTPSStage { stage, httpsPort in
            try await stage.live("v1", [shop], host: nil)
            _ = try await stage.admin.call("route.set", ["host": "shop.test", "app": "shop", "tls": files.tls("shop")])
            let metricsPort = try #require(stage.harness.host.metrics?.boundPort)
            let metrics = try await TestHTTPClient.send(port: metricsPort, path: "/metrics", host: "metrics").body
            #expect(metrics.contains(#"baton_tls_certificate_valid{host="shop.test"} 0"#), "\(metrics)")
            await #expect(throws: (any Error).self) {
                try await TestHTTPClient.send(
                    port: httpsPort,
                    host: "shop.test",
                    tls: try files.client(naming: "shop.test")
                )
            }
            #expect(try await stage.get(host: "shop.test").status == 200, "plain HTTP goes on meanwhile")
            let missing = try await stage.admin.call("route.list")["routes"]?.arrayValue?.first?["certificate"]
            #expect(
                missing?["problem"]?.stringValue?.hasPrefix("cannot read \(files.directory.file("shop.pem"))") == true
            )
            #expect(missing?["notAfter"] == nil)

            try files.write("shop", for: ["shop.test"])
            try #require(stage.harness.host.certificates).refresh(now: Int64(Date().timeIntervalSince1970))
            let served = try await TestHTTPClient.send(
                port: httpsPort,
                host: "shop.test",
                tls: try files.client(naming: "shop.test")
            )
            #expect(served.body == "shop / proto=https")
            let loaded = try await stage.admin.call("route.list")["routes"]?.arrayValue?.first?["certificate"]
            #expect(
                loaded?["problem"] == nil && loaded?["notAfter"]?.stringValue?.hasSuffix("Z") == true,
                "\(String(describing: loaded))"
            )
            let after = try await TestHTTPClient.send(port: metricsPort, path: "/metrics", host: "metrics").body
            #expect(after.contains(#"baton_tls_certificate_valid{host="shop.test"} 1"#))
        }
    }

    @Test func garbageAHalfHandshakeAndAClientWithoutSNIEachLoseOnlyTheirOwnConnection() async throws {
        let files = try CertificateFiles()
        defer { files.directory.remove() }
        let shop = try await Self.echoScheme("shop")
        defer { Task { await shop.stop() } }
        // The handshake timeout itself is the guard's unit test's (TLSHandshakeGuardTests): a short
        // one here would also cut the good connection's handshake on a loaded machine.
        try await withHTTPSStage { stage, httpsPort in
            try await stage.live("v1", [shop], host: nil)
            _ = try await stage.admin.call(
                "route.set",
                ["host": "shop.test", "app": "shop", "tls": try files.write("shop", for: ["shop.test"])]
            )
            let serving = try await TestHTTPClient.connect(port: httpsPort, tls: try files.client(naming: "shop.test"))
            #expect(try await serving.send(host: "shop.test").status == 200)

            let plaintext = try await RawTCPClient.connect(port: httpsPort)
            try await plaintext.send("GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n")
            _ = try await plaintext.untilClosed()

            // A ClientHello's record header and the start of its body, then nothing: it waits.
            let halfway = try await RawTCPClient.connect(port: httpsPort)
            try await halfway.send(bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])

            await #expect(throws: (any Error).self) {
                try await TestHTTPClient.send(port: httpsPort, host: "shop.test", tls: try files.client(naming: nil))
            }

            #expect(try await serving.send(host: "shop.test").status == 200, "the good connection was never touched")
            let metricsPort = try #require(stage.harness.host.metrics?.boundPort)
            let metrics = try await TestHTTPClient.send(port: metricsPort, path: "/metrics", host: "metrics").body
            #expect(metrics.contains(#"baton_tls_certificate_refusals_total{reason="no_server_name"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"baton_tls_handshakes_failed_total{reason="error"} 2"#))
            await serving.close()
            await halfway.close()
        }
    }
}
