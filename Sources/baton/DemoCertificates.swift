import BatonJSON
import BatonLoad
import BatonTLS
import Foundation

/// `baton demo --https`: a certificate authority made for the demo, a certificate for the
/// app's host signed by it, and clients that trust it; all in the demo's own directory.
struct DemoCertificates: Sendable {
    let directory: String
    let authority: CertificateAuthority

    init(directory: String) throws {
        self.directory = directory
        authority = try CertificateAuthority(name: "Baton demo CA")
        try authority.certificatePEM.write(toFile: authorityFile, atomically: true, encoding: .utf8)
    }

    /// What a client such as curl trusts (`--cacert`).
    var authorityFile: String { directory + "/demo-ca.pem" }

    /// Writes a certificate for `host`; returns the route's `tls` member that names it.
    func issue(for host: String) throws -> JSON {
        let (chain, key) = try authority.issue(for: [host])
        let (chainFile, keyFile) = (directory + "/\(host).pem", directory + "/\(host).key")
        try chain.write(toFile: chainFile, atomically: true, encoding: .utf8)
        try key.write(toFile: keyFile, atomically: true, encoding: .utf8)
        return ["cert": .string(chainFile), "key": .string(keyFile)]
    }

    func clients() throws -> LoadTLS {
        try LoadTLS(trustingPEM: try authority.certificatePEM)
    }
}
