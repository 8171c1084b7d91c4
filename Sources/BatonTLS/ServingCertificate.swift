import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A certificate chain and its private key, read and checked, ready for a handshake.
public struct ServingCertificate: Sendable {
    /// Leaf first.
    public let chain: [NIOSSLCertificate]
    public let key: NIOSSLPrivateKey
    /// When the leaf became valid and when it expires, in seconds since 1970.
    public let notBefore: Int64
    public let notAfter: Int64
    /// The DNS names the leaf is for.
    public let names: [String]

    /// Reads a PEM chain and a PEM key, refusing a pair that cannot serve a handshake: one
    /// that is not PEM, has no certificate, or whose key is not the leaf's.
    public init(chainPEM: String, keyPEM: String) throws(CertificateProblem) {
        let leaf: Certificate
        let privateKey: Certificate.PrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8))
            guard
                let first = try PEMDocument.parseMultiple(pemString: chainPEM).first(where: {
                    $0.discriminator == "CERTIFICATE"
                })
            else {
                throw CertificateProblem("the certificate file holds no certificate")
            }
            leaf = try Certificate(pemDocument: first)
        } catch let problem as CertificateProblem {
            throw problem
        } catch {
            throw CertificateProblem("the certificate is not PEM that TLS can read (\(error))")
        }
        do {
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            // A key file may carry the curve's parameters before the key itself.
            guard
                let document = try PEMDocument.parseMultiple(pemString: keyPEM).first(where: {
                    $0.discriminator.hasSuffix("PRIVATE KEY")
                })
            else {
                throw CertificateProblem("the key file holds no private key")
            }
            privateKey = try Certificate.PrivateKey(pemDocument: document)
        } catch let problem as CertificateProblem {
            throw problem
        } catch {
            throw CertificateProblem("the key is not a PEM private key that TLS can read (\(error))")
        }
        guard privateKey.publicKey == leaf.publicKey else {
            throw CertificateProblem("the key is not the certificate's: they are from different pairs")
        }
        notBefore = Int64(leaf.notValidBefore.timeIntervalSince1970)
        notAfter = Int64(leaf.notValidAfter.timeIntervalSince1970)
        names =
            ((try? leaf.extensions.subjectAlternativeNames) ?? nil).map { names in
                names.compactMap { name in
                    if case .dnsName(let dns) = name { return dns.lowercased() }
                    return nil
                }
            } ?? []
    }

    /// Whether the leaf is for `host`, by name or by a wildcard one label deep.
    public func covers(_ host: String) -> Bool {
        names.contains { name in
            if name == host { return true }
            guard name.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { return false }
            return host[host.index(after: dot)...] == name.dropFirst(2)
        }
    }

    /// The override a handshake takes for this certificate.
    var override: NIOSSLContextConfigurationOverride {
        var override = NIOSSLContextConfigurationOverride()
        override.certificateChain = chain.map { .certificate($0) }
        override.privateKey = .privateKey(key)
        return override
    }
}

/// Why a certificate cannot serve, in words for a log line and `baton status`.
public struct CertificateProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
