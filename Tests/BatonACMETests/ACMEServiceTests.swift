import BatonProtocol
import BatonTLS
import CoreMetrics
import Foundation
import Logging
import Testing

@testable import BatonACME

/// What a host restarted on its state directory does with the certificates ACME gave it before.
struct ACMEServiceTests {
    @Test func aKeptCertificateServesAtOnceAndIsRenewedInItsTimeWhileAnExpiredOneIsOrderedNow() throws {
        let directory = FileManager.default.temporaryDirectory.path + "/baton-acme-\(UUID())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = ACMEFiles(stateDirectory: directory)
        let authority = try CertificateAuthority()
        let kept = try authority.issue(for: ["shop.test"], notBefore: Date() - 86_400, notAfter: Date() + 89 * 86_400)
        try files.store(chainPEM: kept.chainPEM, keyPEM: kept.keyPEM, for: "shop.test")
        let expired = try authority.issue(for: ["old.test"], notBefore: Date() - 91 * 86_400, notAfter: Date() - 86_400)
        try files.store(chainPEM: expired.chainPEM, keyPEM: expired.keyPEM, for: "old.test")
        let stranger = try authority.issue(for: ["other.test"])
        try files.store(chainPEM: stranger.chainPEM, keyPEM: stranger.keyPEM, for: "wrong.test")

        let logger = Logger(label: "acme-test")
        let book = CertificateBook(logger: logger, metrics: .disabled)
        let hosts = ["shop.test", "old.test", "wrong.test", "new.test"]
        book.serve(hosts.map { RouteSpec(host: $0, app: AppName(rawValue: "shop"), tls: .acme) })
        let service = ACMEService(
            configuration: ACMEConfiguration(directoryURL: "https://127.0.0.1:1/dir"),
            stateDirectory: directory,
            certificates: book,
            challenges: ChallengeBoard(),
            checkInterval: .seconds(1),
            logger: logger,
            metrics: ACMEMetrics(factory: NOOPMetricsHandler.instance)
        )
        var renewals: [String: CertificateRenewal] = [:]
        service.follow(Set(hosts), in: &renewals)

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(book.status(of: "shop.test")?.notAfter != nil && book.status(of: "shop.test")?.problem == nil)
        #expect(renewals["shop.test"]?.orderIfDue(nowMs: now) == false, "not due for two months")
        #expect(renewals["old.test"]?.orderIfDue(nowMs: now) == true, "expired: ordered at once")
        #expect(renewals["wrong.test"]?.orderIfDue(nowMs: now) == true, "a certificate for another name is not kept")
        #expect(book.status(of: "wrong.test")?.problem == "not issued yet")
        #expect(renewals["new.test"]?.orderIfDue(nowMs: now) == true)

        service.follow(["shop.test"], in: &renewals)
        #expect(renewals.keys.sorted() == ["shop.test"], "hosts whose routes went are forgotten")
        #expect(files.certificate("old.test") != nil, "their files stay for their return")
    }
}
