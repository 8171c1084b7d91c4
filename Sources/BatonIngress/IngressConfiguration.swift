import NIOCore

/// The ingress's settings, each with its default; the error that enforces a limit names
/// the setting.
public struct IngressConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The app that serves hosts no route names; none by default.
    public var defaultApp: String?
    /// Connect timeout to a sandbox (setting `ingress.connectTimeoutMs`).
    public var connectTimeout: TimeAmount = .seconds(2)
    /// Retries after the first try (setting `ingress.maxRetries`).
    public var maxRetries = 2
    /// Request body bytes kept so a request can be sent again (setting `ingress.replayBufferBytes`).
    public var replayBufferBytes = 1 << 20
    /// How long a request waits for a ready sandbox (setting `ingress.holdTimeoutMs`).
    public var holdTimeout: TimeAmount = .seconds(30)
    /// Slots the ingress asks for in one lease; a lease carries that many requests at once.
    public var leaseSlots = 16

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }
}
