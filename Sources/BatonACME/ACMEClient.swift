import BatonJSON
import BatonTLS
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import SwiftASN1
import X509

/// An ACME client (RFC 8555) for one server and one account: it asks for a certificate for
/// one host name, proves control over HTTP-01 or TLS-ALPN-01, and brings back the chain.
actor ACMEClient {
    private let configuration: ACMEConfiguration
    private let transport: ACMETransport
    private let accountKey: AccountKey
    private let challenges: ChallengeBoard
    private let metrics: ACMEMetrics
    private var directory: [String: String]?
    private var nonces: [String] = []
    private var accountURL: String?

    init(configuration: ACMEConfiguration, accountKey: AccountKey, challenges: ChallengeBoard, metrics: ACMEMetrics) {
        self.configuration = configuration
        self.metrics = metrics
        self.accountKey = accountKey
        self.challenges = challenges
        transport = ACMETransport(
            caRootFile: configuration.caRootFile,
            maxResponseBytes: configuration.maxResponseBytes
        )
    }

    func shutdown() async {
        await transport.shutdown()
    }

    /// A certificate chain (PEM) for `host` and the key in `csr`, proven by `challenge` where
    /// the server offers it, or why there is none by `deadline`.
    func issue(
        host: String,
        csr: [UInt8],
        answering challenge: ChallengeType,
        deadline: NIODeadline
    ) async throws(ACMEProblem) -> String {
        let account = try await account(deadline: deadline)
        let created = try await post(
            try await url("newOrder", deadline: deadline),
            ["identifiers": [["type": "dns", "value": .string(host)]]],
            as: .account(url: account),
            deadline: deadline
        )
        guard let orderURL = created.location else { throw ACMEProblem("the new order has no Location") }
        var order = try created.json()
        for authorization in order["authorizations"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            try await authorize(authorization, host: host, by: challenge, account: account, deadline: deadline)
        }
        order = try await poll(orderURL, account: account, deadline: deadline, until: ["ready", "valid"])
        if order["status"]?.stringValue == "ready" {
            guard let finalize = order["finalize"]?.stringValue else { throw ACMEProblem("the order has no finalize") }
            _ = try await post(
                finalize,
                ["csr": .string(Base64URL.encode(csr))],
                as: .account(url: account),
                deadline: deadline
            )
            order = try await poll(orderURL, account: account, deadline: deadline, until: ["valid"])
        }
        guard let certificate = order["certificate"]?.stringValue else {
            throw ACMEProblem("the valid order names no certificate")
        }
        let chain = try await post(
            certificate,
            nil,
            as: .account(url: account),
            accept: "application/pem-certificate-chain",
            deadline: deadline
        )
        return String(decoding: chain.body, as: UTF8.self)
    }

    /// Answers one of the authorization's challenges, `preferred` if the server offers it,
    /// unless the authorization is valid already, and waits until the server has checked it.
    private func authorize(
        _ url: String,
        host: String,
        by preferred: ChallengeType,
        account: String,
        deadline: NIODeadline
    ) async throws(ACMEProblem) {
        let authorization = try await post(url, nil, as: .account(url: account), deadline: deadline).json()
        if authorization["status"]?.stringValue == "valid" { return }
        let offered = authorization["challenges"]?.arrayValue ?? []
        let answerable = ([preferred] + ChallengeType.allCases).lazy.compactMap { kind in
            offered.first { $0["type"]?.stringValue == kind.rawValue }.map { (kind, $0) }
        }
        guard
            let (kind, challenge) = answerable.first,
            let token = challenge["token"]?.stringValue,
            let challengeURL = challenge["url"]?.stringValue
        else {
            throw ACMEProblem("the server offers no challenge this host answers (http-01, tls-alpn-01) for \(url)")
        }
        let keyAuthorization: String
        do { keyAuthorization = try accountKey.keyAuthorization(token: token) } catch {
            throw ACMEProblem("cannot compute the key authorization: \(error)")
        }
        switch kind {
        case .http01: challenges.post(token: token, keyAuthorization: keyAuthorization)
        case .tlsALPN01:
            do { try challenges.post(host: host, tlsALPNKeyAuthorization: keyAuthorization) } catch {
                throw ACMEProblem("cannot make the tls-alpn-01 certificate: \(error)")
            }
        }
        defer {
            switch kind {
            case .http01: challenges.withdraw(token: token)
            case .tlsALPN01: challenges.withdraw(host: host)
            }
        }
        _ = try await post(challengeURL, [:], as: .account(url: account), deadline: deadline)
        _ = try await poll(url, account: account, deadline: deadline, until: ["valid"])
    }

    /// Asks for `url` until its status is one of `wanted`; `invalid` ends it with the
    /// server's reason. Waits as the server asks (`Retry-After`), else a little longer each time.
    private func poll(
        _ url: String,
        account: String,
        deadline: NIODeadline,
        until wanted: Set<String>
    ) async throws(ACMEProblem) -> JSON {
        var pause = Duration.milliseconds(100)
        while true {
            let answer = try await post(url, nil, as: .account(url: account), deadline: deadline)
            let object = try answer.json()
            let status = object["status"]?.stringValue ?? "?"
            if wanted.contains(status) { return object }
            if status == "invalid" { throw Self.invalid(object, url: url) }
            let wait = min(answer.retryAfter ?? pause, .seconds(10))
            guard NIODeadline.now() + .nanoseconds(Int64(wait.components.seconds * 1_000_000_000)) < deadline else {
                throw ACMEProblem("\(url) is still \(status) at the order's deadline (acme.orderTimeoutMs)")
            }
            do { try await Task.sleep(for: wait) } catch { throw ACMEProblem("cancelled") }
            pause = min(pause * 2, .seconds(2))
        }
    }

    /// The reason an authorization or order failed, as the server tells it.
    private static func invalid(_ object: JSON, url: String) -> ACMEProblem {
        let failed = object["challenges"]?.arrayValue?.first { $0["error"] != nil }?["error"] ?? object["error"]
        guard let failed else { return ACMEProblem("\(url) became invalid") }
        return ACMEProblem(status: 403, body: failed, retryAfter: nil)
    }

    // MARK: Account, directory and nonces

    /// The account's URL, registering the key (or finding its account) the first time.
    private func account(deadline: NIODeadline) async throws(ACMEProblem) -> String {
        if let accountURL { return accountURL }
        var request: JSONObject = ["termsOfServiceAgreed": true]
        if let email = configuration.email { request["contact"] = [.string("mailto:" + email)] }
        let answer = try await post(
            try await url("newAccount", deadline: deadline),
            .object(request),
            as: .jwk,
            deadline: deadline
        )
        guard let location = answer.location else { throw ACMEProblem("the new account has no Location") }
        accountURL = location
        return location
    }

    private func url(_ name: String, deadline: NIODeadline) async throws(ACMEProblem) -> String {
        if directory == nil {
            let answer = try await transport.send(.GET, configuration.directoryURL, deadline: deadline)
            guard answer.status == 200, let object = try answer.json().objectValue else {
                throw ACMEProblem("\(configuration.directoryURL) is not an ACME directory (HTTP \(answer.status))")
            }
            directory = Dictionary(object.compactMap { key, value in value.stringValue.map { (key, $0) } }) { a, _ in a
            }
        }
        guard let url = directory?[name] else {
            throw ACMEProblem("the directory \(configuration.directoryURL) has no \(name)")
        }
        return url
    }

    private func nonce(deadline: NIODeadline) async throws(ACMEProblem) -> String {
        if let nonce = nonces.popLast() { return nonce }
        let answer = try await transport.send(.HEAD, try await url("newNonce", deadline: deadline), deadline: deadline)
        guard let nonce = answer.nonce else { throw ACMEProblem("the server gave no nonce") }
        return nonce
    }

    /// A signed request: a JSON payload, or a POST-as-GET when nil. A nonce the server
    /// refuses is replaced by the fresh one it sent, a few times (RFC 8555 §6.5).
    private func post(
        _ url: String,
        _ payload: JSON?,
        as signer: AccountKey.Signer,
        accept: String = "application/json",
        deadline: NIODeadline
    ) async throws(ACMEProblem) -> ACMEResponse {
        var attempts = 0
        while true {
            attempts += 1
            let body: JSON
            do {
                body = try accountKey.sign(payload, url: url, nonce: try await nonce(deadline: deadline), as: signer)
            } catch let problem as ACMEProblem {
                throw problem
            } catch {
                throw ACMEProblem("cannot sign a request: \(error)")
            }
            let answer = try await transport.send(.POST, url, body: body, accept: accept, deadline: deadline)
            if let nonce = answer.nonce { nonces.append(nonce) }
            if answer.status < 400 { return answer }
            let problem = ACMEProblem(status: answer.status, body: try? answer.json(), retryAfter: answer.retryAfter)
            guard problem.isBadNonce, attempts < 5 else { throw problem }
            metrics.nonceRefused()
        }
    }
}
