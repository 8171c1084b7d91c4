import BatonHTTP1
import BatonProtocol
import Testing

@testable import BatonCore
@testable import BatonIngress

/// Every transition of the exchange's lifecycle, driven by hand: no sockets, no clock but the
/// one each event carries.
@Suite("Exchange lifecycle")
struct ExchangeLifecycleTests {
    typealias Lifecycle = ExchangeLifecycle
    let start = ContinuousClock.now

    func lease(_ sandbox: String, _ id: String = "l-1") -> Lease {
        Lease(
            id: LeaseID(id),
            url: "http://127.0.0.1:1",
            sandbox: SandboxID(sandbox),
            app: "shop",
            version: "v1",
            service: "web",
            slots: 4,
            ttl: .seconds(30)
        )
    }

    func lifecycle(maxRetries: Int = 2, upgrade: Bool = false) -> Lifecycle {
        Lifecycle(
            policy: .init(
                app: "shop",
                maxRetries: maxRetries,
                holdTimeoutSeconds: 30,
                responseHeaderTimeoutMilliseconds: 60_000,
                maxBodyBytes: 1 << 20,
                deadline: start + .seconds(60),
                asksUpgrade: upgrade
            )
        )
    }

    /// A lifecycle that has sent its request to `a` and waits for the head.
    func sent(to a: Lease, maxRetries: Int = 2) -> Lifecycle {
        var machine = lifecycle(maxRetries: maxRetries)
        _ = machine.start()
        _ = machine.handle(.leaseGranted(a), now: start)
        _ = machine.handle(.connected, now: start)
        return machine
    }

    func status(_ actions: [Lifecycle.Action]) -> UInt16? {
        for case .refuse(let status, _, _) in actions { return status.code }
        return nil
    }

    @Test func aRequestGoesLeaseConnectSendHeadStreamEnd() {
        let a = lease("a")
        var machine = lifecycle()
        #expect(machine.start() == [.checkout(excluding: [])])
        #expect(machine.handle(.leaseGranted(a), now: start) == [.connect(a, fresh: false)])
        #expect(machine.state == .connecting(a))
        #expect(machine.handle(.connected, now: start) == [.send(replay: false), .armResponseTimer])
        #expect(machine.state == .awaitingHead(a))
        #expect(!machine.responseStarted)
        #expect(machine.handle(.responseHead(status: 200), now: start) == [.responded(a), .forwardHead])
        #expect(machine.responseStarted)
        #expect(machine.handle(.responseEnded, now: start) == [.finish(lease: a, reuseUpstream: true), .endResponse])
        #expect(machine.state == .finished)
        #expect(machine.tries == 1 && machine.budget == .unclaimed)
    }

    @Test func aConnectFailureInvalidatesThenRetriesElsewhereWithTheBudget() {
        let a = lease("a")
        let b = lease("b", "l-2")
        var machine = lifecycle()
        _ = machine.start()
        _ = machine.handle(.leaseGranted(a), now: start)
        #expect(
            machine.handle(.connectFailed("refused"), now: start) == [
                .giveBack(a), .invalidate(a, reason: "connect failed: refused"),
            ]
        )
        #expect(machine.handle(.invalidated, now: start) == [.scheduleRetry(kind: "connect_failed", claimBudget: true)])
        #expect(machine.state == .backingOff)
        #expect(machine.handle(.retryDue, now: start) == [.checkout(excluding: ["a"])])
        _ = machine.handle(.leaseGranted(b), now: start)
        // Nothing was sent to a, so the body so far goes as it is.
        #expect(machine.handle(.connected, now: start) == [.send(replay: false), .armResponseTimer])
        #expect(machine.budget == .held)
    }

    @Test func aRequestLostAfterItWasSentIsRetriedOnlyWhenItMayRunTwice() {
        let a = lease("a")
        var idempotent = sent(to: a)
        #expect(
            idempotent.handle(.upstreamLost("reset", stale: false, noRetry: nil), now: start) == [
                .giveBack(a), .scheduleRetry(kind: "lost_before_response", claimBudget: true),
            ]
        )
        _ = idempotent.handle(.retryDue, now: start)
        _ = idempotent.handle(.leaseGranted(lease("b", "l-2")), now: start)
        // The kept body goes again, whole.
        #expect(idempotent.handle(.connected, now: start) == [.send(replay: true), .armResponseTimer])

        var post = sent(to: a)
        let noRetry = Lifecycle.NoRetry(label: "not_idempotent", explanation: "POST is not idempotent")
        let actions = post.handle(.upstreamLost("reset", stale: false, noRetry: noRetry), now: start)
        #expect(actions.first == .noRetry("not_idempotent"))
        #expect(status(actions) == 502)
        #expect(actions.last == .finish(lease: a, reuseUpstream: false))
        #expect(post.state == .finished)
    }

    @Test func aStalePooledConnectionIsRetriedOnAFreshOneToTheSameSandbox() {
        let a = lease("a")
        var machine = sent(to: a)
        _ = machine.handle(.upstreamLost("closed", stale: true, noRetry: nil), now: start)
        #expect(machine.handle(.retryDue, now: start) == [.checkout(excluding: [])])
        #expect(machine.handle(.leaseGranted(a), now: start) == [.connect(a, fresh: true)])
    }

    @Test func retriesEndAtTheirLimitAtTheDeadlineAndAtTheBudget() {
        let a = lease("a")
        var limited = sent(to: a, maxRetries: 0)
        let exhausted = limited.handle(.upstreamLost("reset", stale: false, noRetry: nil), now: start)
        #expect(exhausted == [.giveBack(a), .noRetry("max_retries")] + exhausted.dropFirst(2))
        #expect(status(exhausted) == 502)
        // The slot went back once, before the answer: the ending holds none.
        #expect(exhausted.last == .finish(lease: nil, reuseUpstream: false))

        var late = sent(to: a)
        let pastDeadline = late.handle(.upstreamLost("reset", stale: false, noRetry: nil), now: start + .seconds(61))
        #expect(pastDeadline.contains(.noRetry("deadline")) && status(pastDeadline) == 504)

        var overBudget = sent(to: a)
        _ = overBudget.handle(.upstreamLost("reset", stale: false, noRetry: nil), now: start)
        let refused = overBudget.handle(.retryBudgetRefused, now: start)
        #expect(refused.contains(.noRetry("budget")) && status(refused) == 503)
        #expect(overBudget.budget == .unclaimed)
    }

    @Test func theBudgetIsClaimedOncePerRequest() {
        let a = lease("a")
        var machine = sent(to: a, maxRetries: 5)
        _ = machine.handle(.upstreamLost("reset", stale: false, noRetry: nil), now: start)
        _ = machine.handle(.retryDue, now: start)
        _ = machine.handle(.leaseGranted(lease("b", "l-2")), now: start)
        _ = machine.handle(.connected, now: start)
        let second = machine.handle(.upstreamLost("reset", stale: false, noRetry: nil), now: start)
        #expect(second.last == .scheduleRetry(kind: "lost_before_response", claimBudget: false))
    }

    @Test func aHoldThatEndsWithoutALeaseIsAnsweredByWhy() {
        var unknown = lifecycle()
        _ = unknown.start()
        #expect(status(unknown.handle(.leaseRefused(CoreError(code: .unknownApp, message: "no")), now: start)) == 503)
        var waited = lifecycle()
        _ = waited.start()
        let timedOut = waited.handle(.leaseRefused(CoreError(code: .noSandbox, message: "No sandbox")), now: start)
        #expect(
            timedOut.contains(
                .refuse(.serviceUnavailable, "No sandbox; waited 30 s (setting ingress.holdTimeoutMs).", retryAfter: 1)
            )
        )
        var full = lifecycle()
        _ = full.start()
        #expect(status(full.handle(.holdQueueFull(depth: 8), now: start)) == 503)
        // After a failed try, no lease means the app could not be reached.
        var retried = sent(to: lease("a"))
        _ = retried.handle(.upstreamLost("reset", stale: false, noRetry: nil), now: start)
        _ = retried.handle(.retryDue, now: start)
        #expect(status(retried.handle(.leaseRefused(CoreError(code: .noSandbox, message: "x")), now: start)) == 502)
    }

    @Test func aLeaseThatComesTooLateGoesBack() {
        var machine = lifecycle()
        _ = machine.start()
        _ = machine.handle(.clientGone, now: start)
        #expect(machine.handle(.leaseGranted(lease("a")), now: start) == [.giveBack(lease("a"))])
    }

    @Test func aResponseTimeoutIs504AndASuspectSandboxIsOutFirst() {
        let a = lease("a")
        var once = sent(to: a)
        let plain = once.handle(.responseTimedOut(suspect: false), now: start)
        #expect(status(plain) == 504 && plain.last == .finish(lease: a, reuseUpstream: false))
        var again = sent(to: a)
        let suspect = again.handle(.responseTimedOut(suspect: true), now: start)
        #expect(suspect.first == .giveBack(a))
        #expect(status(suspect) == nil)
        #expect(status(again.handle(.invalidated, now: start)) == 504)
    }

    @Test func aMalformedResponseIs502AtOnceNeverRetried() {
        let a = lease("a")
        var machine = sent(to: a)
        let actions = machine.handle(.upstreamMalformed(.badStatusLine), now: start)
        #expect(actions.first == .noRetry("malformed_response"))
        #expect(status(actions) == 502 && actions.last == .finish(lease: a, reuseUpstream: false))
        var streaming = sent(to: a)
        _ = streaming.handle(.responseHead(status: 200), now: start)
        #expect(streaming.handle(.upstreamMalformed(.badChunkSize), now: start).last == .abort)
    }

    @Test func aStreamCutOffIsAbortedNeverRetried() {
        let a = lease("a")
        var machine = sent(to: a)
        _ = machine.handle(.responseHead(status: 200), now: start)
        #expect(
            machine.handle(.upstreamLost("reset", stale: false, noRetry: nil), now: start) == [
                .finish(lease: a, reuseUpstream: false), .abort,
            ]
        )
    }

    @Test func aSwitchOfProtocolsOpensATunnelOnlyWhenAskedFor() {
        let a = lease("a")
        var asked = lifecycle(upgrade: true)
        _ = asked.start()
        _ = asked.handle(.leaseGranted(a), now: start)
        _ = asked.handle(.connected, now: start)
        #expect(asked.handle(.responseHead(status: 101), now: start) == [.responded(a)])
        #expect(asked.state == .switching(a))
        #expect(asked.handle(.responseEnded, now: start) == [.openTunnel(a)])

        var unasked = sent(to: a)
        #expect(status(unasked.handle(.responseHead(status: 101), now: start)) == 502)
    }

    @Test func theClientBreakingTheRulesEndsTheExchangeByHowFarItGot() {
        let a = lease("a")
        var before = sent(to: a)
        let refused = before.handle(.clientViolated(.chunkSizeOverflow), now: start)
        #expect(status(refused) == 400 && refused.last == .finish(lease: a, reuseUpstream: false))
        var during = sent(to: a)
        _ = during.handle(.responseHead(status: 200), now: start)
        #expect(during.handle(.clientViolated(.badChunkSize), now: start).last == .abort)
        var large = lifecycle()
        _ = large.start()
        #expect(status(large.handle(.bodyTooLarge, now: start)) == 413)
    }

    @Test func aFinishedExchangeIgnoresWhatComesLate() {
        let a = lease("a")
        var machine = sent(to: a)
        _ = machine.handle(.clientGone, now: start)
        for event: Lifecycle.Event in [
            .connected, .responseHead(status: 200), .responseEnded, .invalidated, .retryDue,
            .upstreamLost("x", stale: false, noRetry: nil), .responseTimedOut(suspect: true), .clientGone,
            .clientViolated(.badChunkSize), .bodyTooLarge, .retryBudgetRefused, .holdQueueFull(depth: 1),
            .connectFailed("x"), .leaseRefused(CoreError(code: .noSandbox, message: "x")),
            .upstreamMalformed(.badStatusLine),
        ] {
            #expect(machine.handle(event, now: start + .seconds(3600)) == [])
        }
    }
}
