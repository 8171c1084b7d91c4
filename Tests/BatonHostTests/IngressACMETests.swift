import BatonACME
import BatonCore
import BatonIngress
import BatonJSON
import BatonPlugins
import BatonTLS
import BatonTestSupport
import Foundation
import Testing

/// Certificates over ACME from a real server, pebble, on loopback: issued for a route with
/// `tls: "acme"` through the ingress's own answer to the HTTP-01 challenge, served over
/// HTTPS, renewed before they expire, and failures shown, counted and retried.
extension IngressTests {
    func withACMEStage(
        pebble: PebbleServer,
        httpPort: Int,
        _ body: (inout Stage, Int) async throws -> Void
    ) async throws {
        try await withStage(
            adjust: { ingress in
                ingress.port = httpPort
                ingress.https = ListenAddress(host: "127.0.0.1", port: 0)
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

                    let root = try await pebble.issuingRootPEM()
                    let answer = try await TestHTTPClient.send(
                        port: httpsPort,
                        host: "shop.test",
                        tls: TestHTTPClient.TLS(trusting: root, serverName: "shop.test")
                    )
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
                    let afterRenewal = try await TestHTTPClient.send(
                        port: httpsPort,
                        host: "shop.test",
                        tls: TestHTTPClient.TLS(trusting: root, serverName: "shop.test")
                    )
                    #expect(afterRenewal.status == 200)

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

        @Test func anOrderWhoseChallengeCannotBeAnsweredFailsIsShownAndIsTriedAgainWhileOthersAreServed() async throws {
            let httpPort = try FreePort.pick()
            let shop = try await IngressTests.echoScheme("shop")
            defer { Task { await shop.stop() } }
            // Pebble checks challenges on a port where nothing answers.
            try await PebbleServer.running(httpPort: try FreePort.pick()) { pebble in
                try await IngressTests().withACMEStage(pebble: pebble, httpPort: httpPort) { stage, _ in
                    try await stage.live("v1", [shop], host: nil)
                    var changes = try #require(stage.harness.host.acme).changes.subscribe().makeAsyncIterator()
                    _ = try await stage.admin.call("route.set", ["host": "shop.test", "app": "shop", "tls": "acme"])
                    _ = try await stage.admin.call("route.set", ["host": "plain.test", "app": "shop"])
                    let status = try await IngressTests.next(&changes, of: "shop.test") {
                        $0.hasPrefix("2 orders failed in a row")
                    }
                    #expect(status.lowercased().contains("connection refused"), "\(status)")
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
