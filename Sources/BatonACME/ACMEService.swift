import BatonCore
import BatonTLS
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwiftASN1
import X509

/// Keeps a certificate from ACME for every host a route serves with `tls: "acme"`: orders
/// one for a host that has none, renews each in its time, and backs off after failures.
/// Its loop owns each host's `CertificateRenewal`; orders run as children of its task group.
public final class ACMEService: Sendable {
    private enum Event: Sendable {
        case wanted(Set<String>)
        case tick
        case finished(host: String, Result<ServingCertificate, ACMEProblem>)
    }

    private let configuration: ACMEConfiguration
    private let files: ACMEFiles
    private let certificates: CertificateBook
    private let challenges: ChallengeBoard
    private let checkInterval: Duration
    private let logger: Logger
    private let metrics: ACMEMetrics
    private let events: AsyncStream<Event>
    private let input: AsyncStream<Event>.Continuation
    /// What the loop's machines say, for `status(of:)`; written by the loop alone.
    private let published = NIOLockedValueBox<[String: CertificateRenewal]>([:])
    /// Each change of what `status(of:)` says of a host, as it happens, for whoever watches.
    public let changes = EventBus<CertificateChange>()

    public init(
        configuration: ACMEConfiguration,
        stateDirectory: String,
        certificates: CertificateBook,
        challenges: ChallengeBoard,
        checkInterval: Duration,
        logger: Logger,
        metrics: ACMEMetrics
    ) {
        self.configuration = configuration
        files = ACMEFiles(stateDirectory: stateDirectory)
        self.certificates = certificates
        self.challenges = challenges
        self.checkInterval = checkInterval
        self.logger = logger
        self.metrics = metrics
        (events, input) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// The hosts routes want a certificate from ACME for, on every change of the routes.
    public func want(_ hosts: Set<String>) {
        input.yield(.wanted(hosts))
    }

    /// Orders and renews until cancelled.
    public func run() async {
        // Made with the first order: a host without ACME routes keeps no account.
        var client: ACMEClient?
        await withDiscardingTaskGroup { group in
            group.addTask { [input, checkInterval] in
                while (try? await Task.sleep(for: checkInterval)) != nil { input.yield(.tick) }
            }
            var renewals: [String: CertificateRenewal] = [:]
            for await event in events {
                switch event {
                case .wanted(let hosts): follow(hosts, in: &renewals)
                case .tick: break
                case .finished(let host, let outcome): finish(host, outcome, in: &renewals)
                }
                let now = Self.nowMs()
                for host in renewals.keys.sorted() where renewals[host]!.orderIfDue(nowMs: now) {
                    let challenge = renewals[host]!.challenge
                    logger.info(
                        "ordering a certificate",
                        metadata: ["host": "\(host)", "challenge": "\(challenge.rawValue)"]
                    )
                    let ready = client.map { .success($0) } ?? makeClient()
                    if case .success(let made) = ready { client = made }
                    group.addTask { [input] in
                        switch ready {
                        case .success(let client):
                            input.yield(.finished(host: host, await self.order(host, by: challenge, from: client)))
                        case .failure(let problem): input.yield(.finished(host: host, .failure(problem)))
                        }
                    }
                }
                publish(renewals)
            }
            group.cancelAll()
        }
        await client?.shutdown()
    }

    private func makeClient() -> Result<ACMEClient, ACMEProblem> {
        do {
            let key = try files.accountKey()
            return .success(
                ACMEClient(configuration: configuration, accountKey: key, challenges: challenges, metrics: metrics)
            )
        } catch {
            return .failure(ACMEProblem("no account key at \(files.accountKeyPath): \(error)"))
        }
    }

    private func publish(_ renewals: [String: CertificateRenewal]) {
        let before = published.withLockedValue { published in
            defer { published = renewals }
            return published
        }
        for (host, renewal) in renewals.sorted(by: { $0.key < $1.key }) where before[host] != renewal {
            changes.publish(CertificateChange(host: host, status: Self.describe(renewal)))
        }
    }

    /// What ACME is doing for `host`, for `route.list` and `baton status`; nil for a host it
    /// does not serve.
    public func status(of host: String) -> String? {
        published.withLockedValue { $0[host] }.map(Self.describe)
    }

    private static func describe(_ renewal: CertificateRenewal) -> String {
        switch renewal.state {
        case .unissued: return "to be ordered"
        case .ordering(let since, let challenge): return "ordering since \(Self.time(since)) by \(challenge.rawValue)"
        case .issued(_, let renewAt): return "renews from \(Self.time(renewAt))"
        case .failing(let problem, let retryAt, _):
            let failures = renewal.failuresInRow
            return "\(failures) order\(failures == 1 ? "" : "s") failed in a row, last: \(problem); "
                + "next at \(Self.time(retryAt)) by \(renewal.challenge.rawValue)"
        }
    }

    /// Starts a renewal for each host newly wanted, from the certificate kept on disk if there
    /// is one, and forgets hosts no longer wanted.
    func follow(_ hosts: Set<String>, in renewals: inout [String: CertificateRenewal]) {
        for host in renewals.keys where !hosts.contains(host) {
            renewals.removeValue(forKey: host)
            metrics.forget(host: host)
        }
        for host in hosts.sorted() where renewals[host] == nil {
            var renewal = CertificateRenewal(
                retryInitial: configuration.retryInitial,
                retryLimit: configuration.retryLimit
            )
            if let stored = files.certificate(host),
                let serving = try? ServingCertificate(chainPEM: stored.chainPEM, keyPEM: stored.keyPEM),
                serving.covers(host)
            {
                certificates.install(serving, for: host)
                renewal.found(
                    notBeforeMs: serving.notBefore * 1000,
                    notAfterMs: serving.notAfter * 1000,
                    jitter: .random(in: 0..<1)
                )
            }
            renewals[host] = renewal
        }
    }

    private func finish(
        _ host: String,
        _ outcome: Result<ServingCertificate, ACMEProblem>,
        in renewals: inout [String: CertificateRenewal]
    ) {
        // A host whose route went meanwhile: its certificate stays on disk for its return.
        guard renewals[host] != nil else { return }
        switch outcome {
        case .success(let serving):
            certificates.install(serving, for: host)
            renewals[host]!.issued(
                notBeforeMs: serving.notBefore * 1000,
                notAfterMs: serving.notAfter * 1000,
                jitter: .random(in: 0..<1)
            )
            logger.info(
                "certificate issued",
                metadata: ["host": "\(host)", "notAfter": "\(CertificateBook.time(serving.notAfter))"]
            )
            metrics.ordered(host: host, result: "issued")
        case .failure(let problem):
            let serving = certificates.status(of: host)?.notAfter
            renewals[host]!.failed(problem, nowMs: Self.nowMs(), servingNotAfterMs: serving.map { $0 * 1000 })
            logger.error(
                "certificate order failed",
                metadata: ["host": "\(host)", "status": "\(Self.describe(renewals[host]!))"]
            )
            metrics.ordered(host: host, result: "failed")
        }
        metrics.failuresInRow(host: host, renewals[host]!.failuresInRow)
    }

    /// One order: a new key, a CSR for `host`, the server's chain checked against both, and
    /// the pair kept on disk.
    private func order(
        _ host: String,
        by challenge: ChallengeType,
        from client: ACMEClient
    ) async -> Result<ServingCertificate, ACMEProblem> {
        let key = P256.Signing.PrivateKey()
        let csr: [UInt8]
        do { csr = try Self.signingRequest(for: host, key: key) } catch {
            return .failure(ACMEProblem("cannot make a CSR: \(error)"))
        }
        let chain: String
        do {
            chain = try await client.issue(
                host: host,
                csr: csr,
                answering: challenge,
                deadline: .now() + Self.amount(configuration.orderTimeout)
            )
        } catch {
            return .failure(error)
        }
        let serving: ServingCertificate
        do { serving = try ServingCertificate(chainPEM: chain, keyPEM: key.pemRepresentation) } catch {
            return .failure(ACMEProblem("the server's certificate cannot serve: \(error)"))
        }
        guard serving.covers(host) else {
            return .failure(ACMEProblem("the server's certificate is for \(serving.names), not \(host)"))
        }
        do { try files.store(chainPEM: chain, keyPEM: key.pemRepresentation, for: host) } catch {
            return .failure(ACMEProblem("cannot keep the certificate: \(error)"))
        }
        return .success(serving)
    }

    static func signingRequest(for host: String, key: P256.Signing.PrivateKey) throws -> [UInt8] {
        var attributes = CertificateSigningRequest.Attributes()
        attributes.insert(
            try CertificateSigningRequest.Attribute(
                ExtensionRequest(extensions: try Certificate.Extensions { SubjectAlternativeNames([.dnsName(host)]) })
            )
        )
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName { CommonName(host) },
            privateKey: Certificate.PrivateKey(key),
            attributes: attributes,
            signatureAlgorithm: .ecdsaWithSHA256
        )
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }

    private static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private static func time(_ ms: Int64) -> String { CertificateBook.time(ms / 1000) }

    private static func amount(_ duration: Duration) -> TimeAmount {
        .milliseconds(duration.milliseconds)
    }
}

/// What ACME does for a host now, as `status(of:)` says it.
public struct CertificateChange: Sendable, Hashable {
    public var host: String
    public var status: String
}
