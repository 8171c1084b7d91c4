import NIOCore
import NIOSSL

/// HTTPS for the load and its watchers: trusting one authority, naming the host the
/// requests are for (SNI) and checking the certificate is for it.
public struct LoadTLS: Sendable {
    private let context: NIOSSLContext

    public init(trustingPEM pem: String) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
        configuration.applicationProtocols = ["http/1.1"]
        context = try NIOSSLContext(configuration: configuration)
    }

    /// Puts TLS first on a new connection for `hostHeader` (a port in it is not part of the name).
    static func add(_ tls: LoadTLS?, for hostHeader: String, to channel: any Channel) throws {
        guard let tls else { return }
        let serverName = String(hostHeader.prefix { $0 != ":" })
        try channel.pipeline.syncOperations.addHandler(
            NIOSSLClientHandler(context: tls.context, serverHostname: serverName)
        )
    }
}
