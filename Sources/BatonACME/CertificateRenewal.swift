import BatonProtocol

/// One host's certificate over ACME: none yet, an order in flight, issued until its renewal
/// time, or failing until its next try. Transitions are pure; times are milliseconds since
/// 1970, given by the caller, so a clock that jumps past every deadline only makes an order due.
struct CertificateRenewal: Sendable, Hashable {
    enum State: Sendable, Hashable {
        /// No certificate: order at once.
        case unissued
        /// An order is in flight, answering `challenge`; never more than one per host, whatever asks.
        case ordering(sinceMs: Int64, challenge: ChallengeType)
        /// A certificate serves until `notAfterMs`; order its successor from `renewAtMs`.
        case issued(notAfterMs: Int64, renewAtMs: Int64)
        /// The last order failed; try again from `retryAtMs`. `notAfterMs` is the certificate
        /// still serving, if any.
        case failing(problem: ACMEProblem, retryAtMs: Int64, notAfterMs: Int64?)
    }

    private(set) var state: State = .unissued
    private var backoff: Backoff
    /// The kind of challenge that brought the last certificate.
    private var proven = ChallengeType.http01

    init(retryInitial: Duration, retryLimit: Duration) {
        backoff = Backoff(initial: retryInitial, limit: retryLimit)
    }

    var failuresInRow: Int { backoff.failuresInRow }

    /// The challenge the next order answers: the kind that brought the last certificate
    /// (HTTP-01 at first), and each failure in a row turns to the next kind, so a host whose
    /// port 80 or 443 the server cannot reach still gets its certificates.
    var challenge: ChallengeType {
        let kinds = ChallengeType.allCases
        return kinds[(kinds.firstIndex(of: proven)! + failuresInRow) % kinds.count]
    }

    /// A certificate already on disk, found at start: serve it, and renew it in its time.
    mutating func found(notBeforeMs: Int64, notAfterMs: Int64, jitter: Double) {
        guard case .unissued = state else { return }
        state = .issued(notAfterMs: notAfterMs, renewAtMs: Self.renewal(notBeforeMs, notAfterMs, jitter: jitter))
    }

    /// Whether an order should start at `nowMs`; if so, it is in flight from now on.
    mutating func orderIfDue(nowMs: Int64) -> Bool {
        switch state {
        case .ordering:
            return false
        case .unissued:
            break
        case .issued(_, let renewAtMs):
            guard nowMs >= renewAtMs else { return false }
        case .failing(_, let retryAtMs, _):
            guard nowMs >= retryAtMs else { return false }
        }
        state = .ordering(sinceMs: nowMs, challenge: challenge)
        return true
    }

    /// The order in flight brought a certificate.
    mutating func issued(notBeforeMs: Int64, notAfterMs: Int64, jitter: Double) {
        guard case .ordering(_, let challenge) = state else { return }
        proven = challenge
        backoff.succeeded()
        state = .issued(notAfterMs: notAfterMs, renewAtMs: Self.renewal(notBeforeMs, notAfterMs, jitter: jitter))
    }

    /// The order in flight failed at `nowMs`: wait, longer each failure in a row, and at least
    /// as long as the server asked.
    mutating func failed(_ problem: ACMEProblem, nowMs: Int64, servingNotAfterMs: Int64?) {
        guard case .ordering = state else { return }
        let wait = max(backoff.failed(), problem.retryAfter ?? .zero)
        state = .failing(problem: problem, retryAtMs: nowMs + wait.milliseconds, notAfterMs: servingNotAfterMs)
    }

    /// When to order a certificate's successor: 30 days before it expires, or at two thirds
    /// of its lifetime when that is later (a short-lived certificate), minus up to a
    /// twentieth of the lifetime so that certificates issued together do not renew together.
    static func renewal(_ notBeforeMs: Int64, _ notAfterMs: Int64, jitter: Double) -> Int64 {
        let lifetime = max(notAfterMs - notBeforeMs, 0)
        let planned = max(notAfterMs - renewBeforeExpiry.milliseconds, notBeforeMs + lifetime * 2 / 3)
        return planned - Int64(Double(lifetime / 20) * min(max(jitter, 0), 1))
    }

    static let renewBeforeExpiry = Duration.seconds(30 * 86_400)
}
