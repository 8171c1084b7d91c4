import BatonCore
import BatonHTTP1

/// One request's way through the proxy as a pure state machine: the driver feeds it what
/// happened and carries out the actions it returns, in order. The retry rules, the retry
/// budget, the deadline, the hold's outcome and the marking of sandboxes it could not use all
/// live here. A retry goes to another sandbox; a try that may have reached the app is retried
/// only when running the request twice does no harm.
struct ExchangeLifecycle {
    enum State: Equatable {
        /// Waiting for a lease slot: from the cache, or held at the broker.
        case awaitingLease
        /// A slot is held; a connection to its sandbox is being made.
        case connecting(Lease)
        /// The request went to the sandbox, whose response has not started.
        case awaitingHead(Lease)
        /// The sandbox switched protocols; the tunnel opens at the 101's end.
        case switching(Lease)
        /// The client is getting the sandbox's response.
        case streaming(Lease)
        /// The broker is taking out a sandbox this exchange could not use; then `next`.
        case invalidating(then: AfterInvalidation)
        /// Waiting a moment before the next try.
        case backingOff
        case finished
    }

    enum AfterInvalidation: Equatable {
        case retry(failure: String, kind: String)
        case answer(ResponseStatus, String)
    }

    /// The limits a request is held to, with the settings that name them.
    struct Policy {
        var app: AppName
        var maxRetries: Int
        var holdTimeoutSeconds: Int64
        var responseHeaderTimeoutMilliseconds: Int64
        var maxBodyBytes: Int64
        var deadline: ContinuousClock.Instant
        /// Whether the request asks to switch protocols, so a 101 is an answer to it.
        var asksUpgrade: Bool
    }

    /// Why a request that may have reached its sandbox is not sent again.
    struct NoRetry: Equatable {
        /// The metric label.
        var label: String
        var explanation: String
    }

    /// What happened.
    enum Event {
        case leaseGranted(Lease)
        case leaseRefused(CoreError)
        /// The app already has as many requests waiting as it may.
        case holdQueueFull(depth: Int)
        case connected
        case connectFailed(String)
        case invalidated
        case retryDue
        case retryBudgetRefused
        case responseHead(status: UInt16)
        case responseEnded
        /// The sandbox connection ended before the response did; `stale` when it was a pooled
        /// connection the sandbox had closed, and `noRetry` when the request must not be sent again.
        case upstreamLost(String, stale: Bool, noRetry: NoRetry?)
        /// The sandbox answered with bytes that are not HTTP/1.1 the proxy will forward: it got
        /// the request, so it is not sent again.
        case upstreamMalformed(HTTP1Violation)
        /// No response head in time; `suspect` when the sandbox has let too many time out.
        case responseTimedOut(suspect: Bool)
        case clientViolated(HTTP1Violation)
        case bodyTooLarge
        case clientGone
    }

    /// What the driver does, in order.
    enum Action: Equatable {
        case checkout(excluding: Set<SandboxID>)
        case connect(Lease, fresh: Bool)
        /// Write the head and the body so far; with `replay`, the whole body kept for a retry.
        case send(replay: Bool)
        case armResponseTimer
        case giveBack(Lease)
        /// Take the sandbox out at the broker; `invalidated` follows.
        case invalidate(Lease, reason: String)
        /// Wait a moment, then `retryDue`; first claim a place in the app's retry budget.
        case scheduleRetry(kind: String, claimBudget: Bool)
        /// A retry that was not made, and why (the metric label).
        case noRetry(String)
        /// The sandbox answered: its run of response timeouts ends.
        case responded(Lease)
        case forwardHead
        case openTunnel(Lease)
        /// Let go of what the exchange holds; the slot of `lease` goes back.
        case finish(lease: Lease?, reuseUpstream: Bool)
        /// The response is whole.
        case endResponse
        case refuse(ResponseStatus, String, retryAfter: Int?)
        /// A response the client has part of is cut off.
        case abort
    }

    private(set) var state = State.awaitingLease
    private(set) var tries = 0
    /// Sandboxes this request will not try again.
    private(set) var excluded: Set<SandboxID> = []
    private(set) var budget = RetryBudget.unclaimed
    private(set) var lastFailure: String?
    /// Tries whose request reached a sandbox's connection; a later try sends the kept body.
    private var sentTries = 0
    private var nextConnection = ConnectionChoice.pooled
    let policy: Policy

    enum RetryBudget: Equatable {
        case unclaimed
        /// The request holds a place in its app's retry budget until it finishes.
        case held
    }

    private enum ConnectionChoice {
        case pooled
        /// The last connection was a pooled one its sandbox had closed: that says nothing
        /// against the sandbox, but the next try must not take another old connection.
        case fresh
    }

    init(policy: Policy) {
        self.policy = policy
    }

    /// Whether any byte of a response has gone to the client: after that, no retry.
    var responseStarted: Bool {
        switch state {
        case .streaming, .switching: true
        default: false
        }
    }

    /// The first action: a slot.
    mutating func start() -> [Action] {
        [.checkout(excluding: excluded)]
    }

    mutating func handle(_ event: Event, now: ContinuousClock.Instant) -> [Action] {
        switch (state, event) {
        case (.awaitingLease, .leaseGranted(let lease)):
            tries += 1
            state = .connecting(lease)
            let fresh = nextConnection == .fresh
            nextConnection = .pooled
            return [.connect(lease, fresh: fresh)]
        case (_, .leaseGranted(let lease)):
            return [.giveBack(lease)]  // the exchange no longer waits for it
        case (.finished, _):
            return []
        case (.awaitingLease, .leaseRefused(let error)):
            return refuseForLease(error)
        case (.awaitingLease, .holdQueueFull(let depth)):
            return end(
                .serviceUnavailable,
                "App \(policy.app) already has \(depth) requests waiting for a sandbox (setting ingress.holdQueueDepth).",
                retryAfter: 1
            )
        case (.connecting, .connected):
            guard case .connecting(let lease) = state else { return [] }
            state = .awaitingHead(lease)
            sentTries += 1
            return [.send(replay: sentTries > 1), .armResponseTimer]
        case (.connecting(let lease), .connectFailed(let reason)):
            // Nothing reached the app: another sandbox may take it, whatever the method.
            excluded.insert(lease.sandbox)
            state = .invalidating(
                then: .retry(failure: "could not connect to a sandbox (\(reason))", kind: "connect_failed")
            )
            return [.giveBack(lease), .invalidate(lease, reason: "connect failed: \(reason)")]
        case (.invalidating(let next), .invalidated):
            switch next {
            case .retry(let failure, let kind): return retryOrRefuse(after: failure, kind: kind, now: now)
            case .answer(let status, let message): return end(status, message, retryAfter: nil)
            }
        case (.backingOff, .retryDue):
            state = .awaitingLease
            return [.checkout(excluding: excluded)]
        case (.backingOff, .retryBudgetRefused):
            budget = .unclaimed
            return end(
                .serviceUnavailable,
                "App \(policy.app) is over its retry budget, so this request was not retried: \(lastFailure ?? "")",
                retryAfter: 1,
                noRetry: "budget"
            )
        case (.awaitingHead(let lease), .responseHead(let status)):
            if status == 101 {
                guard policy.asksUpgrade else {
                    return end(
                        .badGateway,
                        "App \(policy.app) switched protocols for a request that did not ask to.",
                        retryAfter: nil
                    )
                }
                state = .switching(lease)
                return [.responded(lease)]
            }
            state = .streaming(lease)
            return [.responded(lease), .forwardHead]
        case (.streaming(let lease), .responseEnded):
            state = .finished
            return [.finish(lease: lease, reuseUpstream: true), .endResponse]
        case (.switching(let lease), .responseEnded):
            state = .finished
            return [.openTunnel(lease)]
        case (.awaitingHead(let lease), .upstreamLost(let reason, let stale, let noRetry)):
            if !stale { excluded.insert(lease.sandbox) }
            if let noRetry {
                return end(
                    .badGateway,
                    "App \(policy.app) closed the connection before answering, and the request was not retried: \(noRetry.explanation).",
                    retryAfter: nil,
                    noRetry: noRetry.label
                )
            }
            nextConnection = stale ? .fresh : .pooled
            state = .backingOff  // the slot goes back first, so an ending below holds none
            return [.giveBack(lease)]
                + retryOrRefuse(after: reason, kind: stale ? "stale_connection" : "lost_before_response", now: now)
        case (.awaitingHead, .upstreamMalformed(let violation)):
            return end(
                .badGateway,
                "App \(policy.app) answered with a response the proxy does not forward: \(violation.reason).",
                retryAfter: nil,
                noRetry: "malformed_response"
            )
        case (.streaming(let lease), .upstreamLost), (.switching(let lease), .upstreamLost),
            (.streaming(let lease), .upstreamMalformed), (.switching(let lease), .upstreamMalformed):
            state = .finished
            return [.finish(lease: lease, reuseUpstream: false), .abort]
        case (.awaitingHead(let lease), .responseTimedOut(let suspect)):
            // The request may be running there: no retry, and the client gets 504.
            let message =
                "App \(policy.app) did not start answering within \(policy.responseHeaderTimeoutMilliseconds) ms (setting ingress.responseHeaderTimeoutMs)."
            guard suspect else { return end(.gatewayTimeout, message, retryAfter: nil) }
            // A sandbox that lets requests time out again and again is stuck: it is out before
            // the client hears of the timeout.
            state = .invalidating(then: .answer(.gatewayTimeout, message))
            return [
                .giveBack(lease),
                .invalidate(lease, reason: "\(LeaseCache.timeoutsBeforeSuspect) response timeouts in a row"),
            ]
        case (_, .clientViolated(let violation)):
            guard !responseStarted else { return cutOff() }
            return end(ResponseStatus(violation), violation.refusal, retryAfter: nil)
        case (_, .bodyTooLarge):
            guard !responseStarted else { return [] }
            return end(
                .contentTooLarge,
                "The request body for app \(policy.app) is larger than \(policy.maxBodyBytes) bytes (setting ingress.maxBodyBytes).",
                retryAfter: nil
            )
        case (_, .clientGone):
            return cutOff()
        default:
            return []
        }
    }

    private mutating func refuseForLease(_ error: CoreError) -> [Action] {
        if tries > 0 {
            return end(
                .badGateway,
                "App \(policy.app) could not be reached: \(lastFailure ?? "its sandboxes failed"), and no other sandbox is ready.",
                retryAfter: nil
            )
        }
        if error.code == .unknownApp {
            return end(.serviceUnavailable, "App \(policy.app) has no version deployed.", retryAfter: nil)
        }
        return end(
            .serviceUnavailable,
            "\(error.message); waited \(policy.holdTimeoutSeconds) s (setting ingress.holdTimeoutMs).",
            retryAfter: 1
        )
    }

    private mutating func retryOrRefuse(after failure: String, kind: String, now: ContinuousClock.Instant) -> [Action] {
        lastFailure = failure
        guard tries <= policy.maxRetries else {
            return end(
                .badGateway,
                "App \(policy.app) could not be reached after \(tries) tries (setting ingress.maxRetries): \(failure).",
                retryAfter: nil,
                noRetry: "max_retries"
            )
        }
        guard now < policy.deadline else {
            return end(
                .gatewayTimeout,
                "App \(policy.app) could not answer before the request's deadline: \(failure).",
                retryAfter: nil,
                noRetry: "deadline"
            )
        }
        state = .backingOff
        let claim = budget == .unclaimed
        budget = .held
        return [.scheduleRetry(kind: kind, claimBudget: claim)]
    }

    /// Ends the exchange with the proxy's own answer, giving back any slot it holds.
    private mutating func end(
        _ status: ResponseStatus,
        _ message: String,
        retryAfter: Int?,
        noRetry: String? = nil
    ) -> [Action] {
        let lease = heldLease
        state = .finished
        return (noRetry.map { [Action.noRetry($0)] } ?? [])
            + [.refuse(status, message, retryAfter: retryAfter), .finish(lease: lease, reuseUpstream: false)]
    }

    private mutating func cutOff() -> [Action] {
        let lease = heldLease
        state = .finished
        return [.finish(lease: lease, reuseUpstream: false), .abort]
    }

    /// The slot the exchange holds in its state, if any.
    var heldLease: Lease? {
        switch state {
        case .connecting(let lease), .awaitingHead(let lease), .switching(let lease), .streaming(let lease): lease
        default: nil
        }
    }
}
