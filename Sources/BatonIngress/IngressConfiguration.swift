import BatonHTTP1
import NIOCore

/// The ingress's settings, each with its default; the error that enforces a limit names
/// the setting.
public struct IngressConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Where HTTPS is served, if anywhere: the same routes, with the certificate of the host
    /// each client names (SNI).
    public var https: ListenAddress?
    /// How long a new HTTPS connection has to finish its TLS handshake (setting
    /// `ingress.tlsHandshakeTimeoutMs`); past it, the connection is closed.
    public var tlsHandshakeTimeout: TimeAmount = .seconds(10)
    /// How long a closing HTTPS connection waits for the client's close_notify, and for what
    /// it still has to send, before it is closed anyway (setting `ingress.tlsCloseTimeoutMs`).
    public var tlsCloseTimeout: TimeAmount = .seconds(5)
    /// Streams one HTTP/2 connection may have open at once (setting
    /// `ingress.h2MaxConcurrentStreams`); more are refused with RST_STREAM.
    public var h2MaxConcurrentStreams = 100
    /// How much request body one HTTP/2 stream may send ahead of what the proxy has read
    /// (setting `ingress.h2StreamWindowBytes`); the connection's window is four times it.
    public var h2StreamWindowBytes = 256 << 10
    /// RST_STREAM frames one HTTP/2 connection may send within 30 s (setting
    /// `ingress.h2MaxStreamResets`); past it, GOAWAY and the connection closes: the rapid
    /// reset attack (CVE-2023-44487) costs its sender the connection.
    public var h2MaxStreamResets = 200
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
    /// Requests of one app that may wait for a sandbox at once (setting `ingress.holdQueueDepth`).
    public var holdQueueDepth = 1024
    /// Slots the ingress asks for in one lease; a lease carries that many requests at once.
    public var leaseSlots = 16
    /// How long a sandbox has to start its response once the request is sent (setting
    /// `ingress.responseHeaderTimeoutMs`); past it the client gets 504.
    public var responseHeaderTimeout: TimeAmount = .seconds(60)
    /// How long a client has to send a whole request head once it started (setting
    /// `ingress.headerTimeoutMs`); past it, 408.
    public var headerTimeout: TimeAmount = .seconds(10)
    /// How long a keep-alive connection may sit idle between requests.
    public var idleTimeout: TimeAmount = .seconds(60)
    /// Largest request head (setting `ingress.maxHeaderBytes`); past it, 431.
    public var maxHeaderBytes = 64 << 10
    /// Most header fields in a request head (setting `ingress.maxHeaderFields`); past it, 431.
    public var maxHeaderFields = 100
    /// Longest chunk size line, extensions included (setting `ingress.maxChunkLineBytes`);
    /// past it, 400.
    public var maxChunkLineBytes = 4096
    /// How long an upgraded stream (WebSocket) to a sandbox that stopped taking new work
    /// may live on (setting `ingress.streamDrainDeadlineMs`).
    public var streamDrainDeadline: TimeAmount = .hours(1)
    /// Closes at that deadline are spread at random over this window, so clients do not all
    /// reconnect at once (setting `ingress.streamCloseJitterMs`).
    public var streamCloseJitter: TimeAmount = .seconds(60)
    /// A request that must not run twice (POST or PATCH without an `Idempotency-Key`) goes
    /// only on a sandbox connection idle for less than this, else on a new one: a sandbox that
    /// closes idle connections cannot close it under such a request, which could not be retried
    /// (setting `ingress.upstreamSafeReuseMs`).
    public var upstreamSafeReuse: TimeAmount = .seconds(1)
    /// Largest request body (setting `ingress.maxBodyBytes`); past it, 413.
    public var maxBodyBytes: Int64 = 1 << 30

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }

    /// The limits the parser holds requests to; responses from sandboxes get the same.
    var headLimits: HeadLimits {
        HeadLimits(maxHeadBytes: maxHeaderBytes, maxFields: maxHeaderFields, maxChunkLineBytes: maxChunkLineBytes)
    }
}

/// A host and a port to listen on.
public struct ListenAddress: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
