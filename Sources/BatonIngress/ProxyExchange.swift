import BatonCore
import BatonHTTP1
import NIOCore

/// One client request on its way through the proxy: its lifecycle, what was received, and
/// what can be sent again.
final class ProxyExchange {
    let head: RequestHead
    /// The method, as the access log and the sandbox get it.
    let method: String
    /// What the checks made of the head: target, authority, framing, upgrade.
    let checked: CheckedRequest
    let app: AppName
    let service: String
    let requestID: String
    let keepAlive: Bool
    let started = ContinuousClock.now
    private let replayLimit: Int
    var lifecycle: ExchangeLifecycle

    /// How far the client's request has come.
    enum RequestProgress {
        case receiving
        case ended
    }

    private(set) var request = RequestProgress.receiving
    /// Body parts not yet written to a sandbox.
    var unsent: [ByteBuffer] = []
    var unsentBytes = 0
    /// Every body part so far, while they fit the replay buffer; nil once they do not.
    private(set) var replay: [ByteBuffer]? = []
    private var replayBytes = 0
    /// Body bytes received so far.
    private(set) var bodyBytes: Int64 = 0

    /// The connection to the sandbox of the current try, once made.
    var upstream: UpstreamConnection?
    /// The sandbox's 101, from its head until its end, when the tunnel opens.
    var switchingProtocols: ResponseHead?

    // What the access log reports.
    var status: UInt?
    var servedBy: Lease?
    var holdEnded: ContinuousClock.Instant?
    var connectStarted: ContinuousClock.Instant?
    var connected: ContinuousClock.Instant?

    init(
        head: RequestHead,
        checked: CheckedRequest,
        app: AppName,
        service: String,
        requestID: String,
        configuration: IngressConfiguration,
        deadline: Duration
    ) {
        self.head = head
        method = head.method
        self.checked = checked
        self.app = app
        self.service = service
        self.requestID = requestID
        // The parser reads nothing after a request that asked to switch protocols, so such a
        // connection ends with its answer unless it becomes a tunnel.
        keepAlive = head.keepAlive && checked.upgrade == nil
        replayLimit = configuration.replayBufferBytes
        lifecycle = ExchangeLifecycle(
            policy: ExchangeLifecycle.Policy(
                app: app,
                maxRetries: configuration.maxRetries,
                holdTimeoutSeconds: configuration.holdTimeout.nanoseconds / 1_000_000_000,
                responseHeaderTimeoutMilliseconds: configuration.responseHeaderTimeout.nanoseconds / 1_000_000,
                maxBodyBytes: configuration.maxBodyBytes,
                deadline: started + deadline,
                asksUpgrade: checked.upgrade != nil
            )
        )
    }

    func received(_ body: ByteBuffer) {
        bodyBytes += Int64(body.readableBytes)
        if replay != nil {
            replayBytes += body.readableBytes
            if replayBytes > replayLimit { replay = nil } else { replay?.append(body) }
        }
    }

    func requestEnded() {
        request = .ended
    }

    /// Whether running the request twice does no harm: an idempotent method, or an
    /// `Idempotency-Key` the app honours.
    var isIdempotent: Bool {
        Self.idempotentMethods.contains(method) || head.fields.contains(Self.idempotencyKey)
    }

    private static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]
    private static let idempotencyKey: FieldName = "idempotency-key"

    /// Whether the response has no body, whatever its fields say.
    var isHeadRequest: Bool { head.isMethod("HEAD") }

    /// Nil when it is safe to send again after the sandbox may have seen it: an idempotent
    /// method, or an `Idempotency-Key`, and the whole body still at hand.
    var noRetryAfterSend: ExchangeLifecycle.NoRetry? {
        guard isIdempotent else {
            return .init(label: "not_idempotent", explanation: "\(method) is not idempotent and has no Idempotency-Key")
        }
        guard replay != nil, request == .ended else {
            return .init(
                label: "body_too_large",
                explanation:
                    "its body is larger than the \(replayLimit)-byte replay buffer (setting ingress.replayBufferBytes)"
            )
        }
        return nil
    }
}
