/// Where certificates come from, and how hard the host tries (settings `acme.*`).
public struct ACMEConfiguration: Sendable {
    /// Let's Encrypt's production directory: the default, as with Caddy and certbot.
    public static let letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

    /// The ACME server's directory URL (`--acme-directory`).
    public var directoryURL: String
    /// Who the server may write to about the account (`--acme-email`); none when nil.
    public var email: String?
    /// A PEM file of the roots the server's own certificate is checked against
    /// (`--acme-ca-root`), for a private ACME server; the system's roots when nil.
    public var caRootFile: String?
    /// How long one order may take, from asking to the certificate in hand
    /// (setting `acme.orderTimeoutMs`).
    public var orderTimeout: Duration = .seconds(300)
    /// The first wait after a failed order, doubling per failure in a row up to `retryLimit`
    /// (settings `acme.retryInitialMs`, `acme.retryLimitMs`). Five minutes first keeps a
    /// host that keeps failing under Let's Encrypt's five failed validations an hour.
    public var retryInitial: Duration = .seconds(300)
    public var retryLimit: Duration = .seconds(86_400)
    /// The most one answer of the server may hold (setting `acme.maxResponseBytes`).
    public var maxResponseBytes = 1 << 20

    public init(directoryURL: String = ACMEConfiguration.letsEncrypt, email: String? = nil, caRootFile: String? = nil) {
        self.directoryURL = directoryURL
        self.email = email
        self.caRootFile = caRootFile
    }
}
