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

    /// `protocols` is what ALPN offers, most wanted first.
    public init(book: CertificateBook, protocols: [String]) throws {
        // A server configuration without a certificate of its own: every handshake takes the
        // one its SNI names, or fails.
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.cipherSuites = Self.cipherSuites
        configuration.applicationProtocols = protocols
        configuration.renegotiationSupport = .none
        configuration.sslContextCallback = { values, promise in
            switch book.serving(serverName: values.serverHostname) {
            case .success(let serving): promise.succeed(serving.override)
            case .failure(let refusal):
                book.metrics.certificateRefused(reason: refusal.rawValue)
                promise.fail(refusal)
            }
        }
        self.book = book
        context = try NIOSSLContext(configuration: configuration)
    }

    /// The handler that terminates TLS on a new connection.
    public func handler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: context)
    }
}
