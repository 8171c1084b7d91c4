import NIOCore
import NIOSSL

/// What the ingress's HTTPS listener offers: TLS 1.2 and 1.3 only, and for TLS 1.2 only
/// key exchanges with forward secrecy and AEAD ciphers (Mozilla's "intermediate" list; TLS
/// 1.3's suites are BoringSSL's own three). The certificate is the one `book` holds for the
/// name the client asks for.
public struct TLSTermination: Sendable {
    public static let cipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    public let book: CertificateBook
    private let context: NIOSSLContext
    private let challenges: ChallengeBoard?

    /// `protocols` is what ALPN offers, most wanted first; `closeTimeout`, how long a closing
    /// connection waits for the client's close_notify, and for what it still has to send, before
    /// it closes anyway; `challenges`, the ACME validations to answer (TLS-ALPN-01), if any.
    public init(
        book: CertificateBook,
        protocols: [String],
        closeTimeout: TimeAmount,
        challenges: ChallengeBoard? = nil
    ) throws {
        // A server configuration without a certificate of its own: every handshake takes the
        // one its SNI names, or fails.
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.cipherSuites = Self.cipherSuites
        configuration.applicationProtocols = protocols
        configuration.renegotiationSupport = .none
        configuration.shutdownTimeout = closeTimeout
        configuration.sslContextCallback = { values, promise in
            switch book.serving(serverName: values.serverHostname) {
            case .success(let serving): promise.succeed(serving.override)
            case .failure(let refusal):
                book.metrics.certificateRefused(reason: refusal.rawValue)
                promise.fail(refusal)
            }
        }
        self.book = book
        self.challenges = challenges
        context = try NIOSSLContext(configuration: configuration)
    }

    /// The handler that terminates TLS on a new connection. While a TLS-ALPN-01 challenge is
    /// open, it reads the ClientHello first: a validator connects only after the challenge
    /// is open, so a connection accepted before needs no such look.
    public func handler() -> any ChannelHandler {
        if let challenges, challenges.awaitsTLSALPNValidations {
            return ClientHelloSwitch(challenges: challenges, usual: context)
        }
        return NIOSSLServerHandler(context: context)
    }
}
