import BatonACME
import BatonCore
import BatonIngress
import BatonJSON
import BatonPlugins
import BatonTLS
import BatonTestSupport
import Foundation
import Testing
import X509

/// Certificates over ACME from a real server, pebble, on loopback: issued for a route with
/// `tls: "acme"` through the ingress's own answer to the HTTP-01 or TLS-ALPN-01 challenge,
/// served over HTTPS, renewed before they expire, and failures shown, counted and retried.
extension IngressTests {
    func withACMEStage(
        pebble: PebbleServer,
        httpPort: Int,
        httpsPort: Int = 0,
        _ body: (inout Stage, Int) async throws -> Void
    ) async throws {
        try await withStage(
            adjust: { ingress in
                ingress.port = httpPort
                ingress.https = ListenAddress(host: "127.0.0.1", port: httpsPort)
            },
            configureHost: { host in
                host.certificateCheckMs = 100
                host.acme = ACMEConfiguration(
                    directoryURL: pebble.directoryURL,
                    email: "ops@shop.test",
                    caRootFile: pebble.caRootFile
                )
                host.acme.retryInitial = .milliseconds(100)
                host.acme.retryLimit = .milliseconds(400)
                host.acme.orderTimeout = .seconds(20)
            }
        ) { stage in
            try await body(&stage, try #require(stage.harness.host.ingress?.httpsPort))
        }
    }

    /// What `route.list` says of the certificate of the route for `host`.
    static func certificate(of host: String, _ stage: Stage) async throws -> JSON? {
        try await stage.admin.call("route.list")["routes"]?.arrayValue?.first { $0["host"]?.stringValue == host }?[
            "certificate"
        ]
    }

    /// `GET /` for shop.test over HTTPS, from a client that trusts only what pebble issues.
    static func shop(port: Int, trusting pebble: PebbleServer) async throws -> TestHTTPClient.Response {
        try await TestHTTPClient.send(
            port: port,
            host: "shop.test",
            tls: TestHTTPClient.TLS(trusting: try await pebble.issuingRootPEM(), serverName: "shop.test")
        )
    }

    /// The next status ACME tells of `host` that `holds`; the test's time limit ends a wait
    /// for one that never comes.
    static func next(
        _ changes: inout AsyncStream<CertificateChange>.AsyncIterator,
        of host: String,
        where holds: (String) -> Bool
    ) async throws -> String {
        while let change = await changes.next() {
            if change.host == host && holds(change.status) { return change.status }
        }
        throw CancellationError()
    }
}

extension IngressTests {
    /// A TLS-ALPN-01 validation (RFC 8737) reads the certificate made for the challenge, and
    /// nothing else; every other handshake is as before, also while the challenge is open.
    @Test func aTLSALPNValidationGetsTheChallengeCertificateAndEveryOtherHandshakeTheRoutesOwn() async throws {
        let shop = try await Self.echoScheme("shop")
        defer { Task { await shop.stop() } }
        try await withHTTP2Stage([shop]) { stage, httpsPort, files in
            let board = stage.harness.host.challenges
            try board.post(host: "shop.test", tlsALPNKeyAuthorization: "token.thumbprint")

            let validation = try await TestHTTPClient.handshake(
                port: httpsPort,
                serverName: "Shop.Test",
                protocols: [ChallengeBoard.tlsALPNProtocol]
            )
            #expect(validation.negotiated == ChallengeBoard.tlsALPNProtocol)
            let made = try Certificate(derEncoded: validation.certificateDER)
            let identifier = try #require(made.extensions.first { $0.oid == [1, 3, 6, 1, 5, 5, 7, 1, 31] })
            #expect(identifier.critical)
            // An OCTET STRING of the SHA-256 digest of the key authorization.
            #expect(Array(identifier.value) == [0x04, 32] + Self.tokenThumbprintDigest)
            #expect(try made.extensions.subjectAlternativeNames.map(Array.init) == [.dnsName("shop.test")])
            try await validation.closed.get()

            let usual = try await TestHTTPClient.send(
                port: httpsPort,
                host: "shop.test",
                tls: try files.client(naming: "shop.test")
            )
            #expect(
                usual.status == 200 && usual.body == "shop / proto=https",
                "served as before, beside the validation"
            )
            let garbage = try await RawTCPClient.connect(port: httpsPort)
            try await garbage.send("GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n")
            _ = try await garbage.untilClosed()

            board.withdraw(host: "shop.test")
            let late = try await TestHTTPClient.handshake(
                port: httpsPort,
                serverName: "shop.test",
                protocols: [ChallengeBoard.tlsALPNProtocol]
            )
            #expect(late.negotiated == nil)
            let routes = try Certificate(derEncoded: late.certificateDER)
            #expect(!routes.extensions.contains { $0.oid == [1, 3, 6, 1, 5, 5, 7, 1, 31] }, "the route's own")
            await late.close()
        }
    }

    /// SHA-256 of "token.thumbprint", worked out apart from the code under test.
    static let tokenThumbprintDigest: [UInt8] = [
        0xEB, 0x5A, 0xC1, 0x67, 0xFE, 0x24, 0x9C, 0x76, 0xE5, 0x3B, 0x43, 0x0D, 0xA3, 0x11, 0x6C, 0x5D,
        0x9F, 0xDE, 0x4C, 0x55, 0x07, 0xBA, 0x6D, 0x01, 0xE8, 0x85, 0x51, 0x6E, 0x1B, 0xD4, 0x9F, 0x92,
    ]
}

extension ProcessHeavySuites {
    /// Two real servers (pebble and its DNS) and a renewal twenty seconds away: they take their
    /// turn with the other heavy suites.
    @Suite("ACME against pebble", .serialized, .timeLimit(.minutes(2)))
    struct ACMETests {
        @Test func aRouteWithACMEIsIssuedACertificateServesItAndRenewsItBeforeItExpires() async throws {
            let httpPort = try FreePort.pick()
            let shop = try await IngressTests.echoScheme("shop")
            defer { Task { await shop.stop() } }
            // Thirty seconds of life: the renewal is due at two thirds, twenty seconds in. One good
            // nonce in four is refused, which the client answers by signing again with the next.
            try await PebbleServer.running(httpPort: httpPort, validitySeconds: 30, nonceRejectPercent: 25) { pebble in
                try await IngressTests().withACMEStage(pebble: pebble, httpPort: httpPort) { stage, httpsPort in
                    try await stage.live("v1", [shop], host: nil)
                    var changes = try #require(stage.harness.host.acme).changes.subscribe().makeAsyncIterator()
                    _ = try await stage.admin.call("route.set", ["host": "shop.test", "app": "shop", "tls": "acme"])
                    _ = try await IngressTests.next(&changes, of: "shop.test") { $0.hasPrefix("renews from") }
                    let issued = try await IngressTests.certificate(of: "shop.test", stage)
                    let firstExpiry = try #require(
                        issued?["notAfter"]?.stringValue,
                        "issued: \(String(describing: issued))"
                    )
                    #expect(issued?["problem"] == nil)
                    #expect(issued?["acme"]?.stringValue?.hasPrefix("renews from") == true)

                    let answer = try await IngressTests.shop(port: httpsPort, trusting: pebble)
                    #expect(answer.status == 200 && answer.body == "shop / proto=https")

                    let acme = stage.harness.stateDirectory + "/acme"
                    for file in [
                        "account-key.pem", "certificates/shop.test/key.pem", "certificates/shop.test/chain.pem",
                    ] {
                        let mode = try FileManager.default.attributesOfItem(atPath: acme + "/" + file)[
                            .posixPermissions
                        ]
                        #expect(mode as? Int == 0o600, "\(file) is the host's user's alone")
                    }

                    _ = try await IngressTests.next(&changes, of: "shop.test") { $0.hasPrefix("ordering since") }
                    _ = try await IngressTests.next(&changes, of: "shop.test") { $0.hasPrefix("renews from") }
                    let renewed = try await IngressTests.certificate(of: "shop.test", stage)
                    let secondExpiry = try #require(renewed?["notAfter"]?.stringValue)
                    #expect(secondExpiry > firstExpiry, "renewed before the first expired")
                    #expect(try await IngressTests.shop(port: httpsPort, trusting: pebble).status == 200)

                    let metricsPort = try #require(stage.harness.host.metrics?.boundPort)
                    let metrics = try await TestHTTPClient.send(port: metricsPort, path: "/metrics", host: "m").body
                    #expect(metrics.contains(#"baton_acme_orders_total{host="shop.test",result="issued"} 2"#))
                    #expect(metrics.contains(#"baton_acme_failures_in_row{host="shop.test"} 0"#))
                    let refused = metrics.split(separator: "\n").first {
                        $0.hasPrefix("baton_acme_nonces_refused_total ")
                    }
                    #expect(
                        refused.map { $0 != "baton_acme_nonces_refused_total 0" } == true,
                        "signed again: \(String(describing: refused))"
                    )
                }
            }
        }

        @Test func aHostWhosePort80PebbleCannotReachIsProvenOverTLSALPN01OnItsHTTPSPort() async throws {
            let (httpPort, httpsPort) = (try FreePort.pick(), try FreePort.pick())
            let shop = try await IngressTests.echoScheme("shop")
            defer { Task { await shop.stop() } }
            // Pebble checks HTTP-01 where nothing listens, and TLS-ALPN-01 on the ingress's HTTPS port.
            try await PebbleServer.running(httpPort: try FreePort.pick(), tlsPort: httpsPort) { pebble in
                try await IngressTests().withACMEStage(pebble: pebble, httpPort: httpPort, httpsPort: httpsPort) {
                    stage,
                    _ in
                    try await stage.live("v1", [shop], host: nil)
                    var changes = try #require(stage.harness.host.acme).changes.subscribe().makeAsyncIterator()
                    _ = try await stage.admin.call("route.set", ["host": "shop.test", "app": "shop", "tls": "acme"])
                    let failed = try await IngressTests.next(&changes, of: "shop.test") {
                        $0.hasPrefix("1 order failed in a row")
                    }
                    #expect(
                        failed.hasSuffix("by tls-alpn-01"),
                        "the next order turns to the other challenge: \(failed)"
                    )
                    _ = try await IngressTests.next(&changes, of: "shop.test") {
                        $0.hasPrefix("ordering since") && $0.hasSuffix("by tls-alpn-01")
                    }
                    _ = try await IngressTests.next(&changes, of: "shop.test") { $0.hasPrefix("renews from") }

                    let answer = try await IngressTests.shop(port: httpsPort, trusting: pebble)
                    #expect(answer.status == 200 && answer.body == "shop / proto=https")
                    #expect(
                        !stage.harness.host.challenges.awaitsTLSALPNValidations,
                        "the challenge is withdrawn with its order"
                    )
                }
            }
        }

        @Test func anOrderWhoseChallengeCannotBeAnsweredFailsIsShownAndIsTriedAgainWhileOthersAreServed() async throws {
            let httpPort = try FreePort.pick()
            let shop = try await IngressTests.echoScheme("shop")
            defer { Task { await shop.stop() } }
            // Pebble checks both kinds of challenge on ports where nothing answers.
            try await PebbleServer.running(httpPort: try FreePort.pick()) { pebble in
                try await IngressTests().withACMEStage(pebble: pebble, httpPort: httpPort) { stage, _ in
                    try await stage.live("v1", [shop], host: nil)
                    var changes = try #require(stage.harness.host.acme).changes.subscribe().makeAsyncIterator()
                    _ = try await stage.admin.call("route.set", ["host": "shop.test", "app": "shop", "tls": "acme"])
                    _ = try await stage.admin.call("route.set", ["host": "plain.test", "app": "shop"])
                    let first = try await IngressTests.next(&changes, of: "shop.test") {
                        $0.hasPrefix("1 order failed in a row")
                    }
                    #expect(first.lowercased().contains("connection refused"), "pebble's reason: \(first)")
                    #expect(first.hasSuffix("by tls-alpn-01"))
                    let second = try await IngressTests.next(&changes, of: "shop.test") {
                        $0.hasPrefix("2 orders failed in a row")
                    }
                    #expect(second.contains("tls-alpn-01") && second.hasSuffix("by http-01"), "\(second)")
                    let failing = try await IngressTests.certificate(of: "shop.test", stage)
                    #expect(failing?["notAfter"] == nil && failing?["problem"]?.stringValue == "not issued yet")
                    #expect(failing?["acme"]?.stringValue?.contains("orders failed in a row") == true)

                    // Unknown tokens are not answered by the ingress: the request is routed as any other.
                    let routed = try await stage.get("/.well-known/acme-challenge/unknown", host: "plain.test")
                    #expect(
                        routed.status == 200 && routed.body == "shop /.well-known/acme-challenge/unknown proto=http"
                    )

                    let metricsPort = try #require(stage.harness.host.metrics?.boundPort)
                    let metrics = try await TestHTTPClient.send(port: metricsPort, path: "/metrics", host: "m").body
                    #expect(metrics.contains(#"baton_acme_orders_total{host="shop.test",result="failed"}"#))
                }
            }
        }
    }
}
