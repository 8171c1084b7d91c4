import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The certificate that answers a TLS-ALPN-01 challenge (RFC 8737 §3): self-signed, for the
/// host alone, with the critical `acmeIdentifier` extension holding the SHA-256 digest of the
/// key authorization. Offered only to a client that asks for `acme-tls/1`.
enum TLSALPNChallengeCertificate {
    /// id-pe-acmeIdentifier (RFC 8737 §6.1).
    static let acmeIdentifier: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 1, 31]

    static func context(host: String, keyAuthorization: String) throws -> NIOSSLContext {
        let key = P256.Signing.PrivateKey()
        var digest = DER.Serializer()
        try digest.serialize(ASN1OctetString(contentBytes: ArraySlice(SHA256.hash(data: Array(keyAuthorization.utf8)))))
        let name = try DistinguishedName { CommonName(host) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now - 3_600,
            notValidAfter: now + 7 * 86_400,
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames([.dnsName(host)])
                Certificate.Extension(oid: acmeIdentifier, critical: true, value: ArraySlice(digest.serializedBytes))
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        var der = DER.Serializer()
        try der.serialize(certificate)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: der.serializedBytes, format: .der))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem))
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = [ChallengeBoard.tlsALPNProtocol]
        return try NIOSSLContext(configuration: configuration)
    }
}
