import NIOConcurrencyHelpers
import NIOSSL

/// The ACME challenges an order has open, answered by the ingress itself: HTTP-01 (RFC 8555
/// §8.3) as `GET /.well-known/acme-challenge/TOKEN` on plain HTTP, before routing, for any
/// host; TLS-ALPN-01 (RFC 8737) as a handshake on HTTPS for a client that offers only
/// `acme-tls/1`, with a certificate made for the challenge.
public final class ChallengeBoard: Sendable {
    /// Where HTTP-01 challenges are asked for.
    public static let pathPrefix = "/.well-known/acme-challenge/"
    /// What a TLS-ALPN-01 validation offers in ALPN, and nothing else (RFC 8737 §3).
    public static let tlsALPNProtocol = "acme-tls/1"

    private struct Open {
        var keyAuthorizations: [String: String] = [:]
        /// By host name, lowercased.
        var handshakes: [String: NIOSSLContext] = [:]
    }

    private let open = NIOLockedValueBox(Open())

    public init() {}

    public func post(token: String, keyAuthorization: String) {
        open.withLockedValue { $0.keyAuthorizations[token] = keyAuthorization }
    }

    public func withdraw(token: String) {
        open.withLockedValue { _ = $0.keyAuthorizations.removeValue(forKey: token) }
    }

    /// The key authorization for a request's target, or nil when it asks for no open challenge.
    public func answer(target: String) -> String? {
        guard target.hasPrefix(Self.pathPrefix) else { return nil }
        let token = target.dropFirst(Self.pathPrefix.count)
        return open.withLockedValue { $0.keyAuthorizations[String(token)] }
    }

    /// Opens the TLS-ALPN-01 challenge for `host`.
    public func post(host: String, tlsALPNKeyAuthorization keyAuthorization: String) throws {
        let handshake = try TLSALPNChallengeCertificate.context(host: host, keyAuthorization: keyAuthorization)
        open.withLockedValue { $0.handshakes[host.lowercased()] = handshake }
    }

    public func withdraw(host: String) {
        open.withLockedValue { _ = $0.handshakes.removeValue(forKey: host.lowercased()) }
    }

    /// Whether a TLS-ALPN-01 challenge is open: only then is a ClientHello read before TLS.
    public var awaitsTLSALPNValidations: Bool {
        open.withLockedValue { !$0.handshakes.isEmpty }
    }

    /// The handshake that answers `hello`, when it is a validation of an open challenge.
    func handshake(answering hello: ClientHello) -> NIOSSLContext? {
        guard hello.protocols.contains(Self.tlsALPNProtocol), let name = hello.serverName else { return nil }
        return open.withLockedValue { $0.handshakes[name] }
    }
}
