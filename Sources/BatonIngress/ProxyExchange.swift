import BatonCore
import BatonHTTP1
import NIOCore

/// One client request on its way through the proxy: what was received, what can be sent
/// again, and how far the tries have got.
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

    /// Body parts not yet written to the current sandbox.
    var unsent: [ByteBuffer] = []
    var unsentBytes = 0
    /// Every body part so far, while they fit the replay buffer; nil once they do not.
    private(set) var replay: [ByteBuffer]? = []
    private var replayBytes = 0
    var requestEnded = false

    var tries = 0
    /// Set once the exchange has been finished and accounted for.
    var finished = false
    /// Whether this request holds a place in its app's retry budget.
    var retrying = false
    /// When every try together must be done by.
    let deadline: ContinuousClock.Instant
    var failedSandboxes: Set<SandboxID> = []
    /// Why the last try failed, for the answer when no try is left.
    var lastFailure: String?

    // What the access log reports.
    var status: UInt?
    var servedBy: Lease?
    var holdEnded: ContinuousClock.Instant?
    var connectStarted: ContinuousClock.Instant?
    var connected: ContinuousClock.Instant?
    var lease: Lease?
    var upstream: UpstreamConnection?
    /// Whether any byte of this request reached the current sandbox.
    var requestSent = false
    /// Whether the client has received any byte of the response; after that, no retry.
    var responseStarted = false
    /// The next try must use a new connection: the last one was a pooled connection its
    /// sandbox had closed, which says nothing against the sandbox.
    var needsFreshConnection = false
    /// The sandbox's 101, from its head until its end, when the tunnel opens.
    var switchingProtocols: ResponseHead?

    init(
        head: RequestHead,
        checked: CheckedRequest,
        app: AppName,
        service: String,
        requestID: String,
        replayLimit: Int,
        deadline: Duration
    ) {
        self.deadline = started + deadline
        self.head = head
        method = head.method
        self.checked = checked
        self.app = app
        self.service = service
        self.requestID = requestID
        // The parser reads nothing after a request that asked to switch protocols, so such a
        // connection ends with its answer unless it becomes a tunnel.
        self.keepAlive = head.keepAlive && checked.upgrade == nil
        self.replayLimit = replayLimit
    }

    /// Body bytes received so far.
    private(set) var bodyBytes: Int64 = 0

    func received(_ body: ByteBuffer) {
        bodyBytes += Int64(body.readableBytes)
        if replay != nil {
            replayBytes += body.readableBytes
            if replayBytes > replayLimit { replay = nil } else { replay?.append(body) }
        }
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

    /// Why a request the sandbox may have seen is not sent again; the raw value is the
    /// metric label.
    enum NoRetry: String {
        case notIdempotent = "not_idempotent"
        case bodyTooLarge = "body_too_large"
    }

    /// Nil when it is safe to send again after the sandbox may have seen it: an idempotent
    /// method, or an `Idempotency-Key`, and the whole body still at hand.
    var noRetryAfterSend: NoRetry? {
        guard isIdempotent else { return .notIdempotent }
        guard replay != nil, requestEnded else { return .bodyTooLarge }
        return nil
    }

    func explain(_ reason: NoRetry) -> String {
        switch reason {
        case .notIdempotent: "\(method) is not idempotent and has no Idempotency-Key"
        case .bodyTooLarge:
            "its body is larger than the \(replayLimit)-byte replay buffer (setting ingress.replayBufferBytes)"
        }
    }
}
