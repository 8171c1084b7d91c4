import BatonTLS
import Testing

@testable import BatonACME

/// When certificates are ordered: at most one order per host in flight, renewals in their
/// time, failures backed off, and clocks that jump only making an order due.
struct CertificateRenewalTests {
    static let day: Int64 = 86_400_000
    static func renewal() -> CertificateRenewal {
        CertificateRenewal(retryInitial: .seconds(300), retryLimit: .seconds(3_600))
    }

    @Test func renewalsComeThirtyDaysBeforeExpiryOrAtTwoThirdsOfAShortLife() {
        #expect(CertificateRenewal.renewal(0, 90 * Self.day, jitter: 0) == 60 * Self.day)
        #expect(CertificateRenewal.renewal(0, 365 * Self.day, jitter: 0) == 335 * Self.day)
        #expect(CertificateRenewal.renewal(0, 6 * Self.day, jitter: 0) == 4 * Self.day, "never before it is issued")
        #expect(CertificateRenewal.renewal(1_000, 31_000, jitter: 0) == 21_000)
        // Jitter only brings it earlier, by at most a twentieth of the lifetime.
        let early = CertificateRenewal.renewal(0, 90 * Self.day, jitter: 1)
        #expect(early == 60 * Self.day - 90 * Self.day / 20)
        #expect(CertificateRenewal.renewal(0, 90 * Self.day, jitter: 7) == early, "out-of-range jitter is clamped")
    }

    @Test func oneOrderPerHostIsInFlightWhateverAsksAndItsResultEndsIt() {
        var renewal = Self.renewal()
        #expect(renewal.orderIfDue(nowMs: 0) == true)
        for now in [0, 1, Self.day * 400] { #expect(renewal.orderIfDue(nowMs: now) == false, "in flight already") }
        renewal.issued(notBeforeMs: 0, notAfterMs: 90 * Self.day, jitter: 0)
        #expect(renewal.state == .issued(notAfterMs: 90 * Self.day, renewAtMs: 60 * Self.day))
        #expect(renewal.orderIfDue(nowMs: 60 * Self.day - 1) == false)
        #expect(renewal.orderIfDue(nowMs: 60 * Self.day) == true)
    }

    @Test func aResultWithNoOrderInFlightChangesNothing() {
        var renewal = Self.renewal()
        renewal.issued(notBeforeMs: 0, notAfterMs: 90 * Self.day, jitter: 0)
        renewal.failed(ACMEProblem("late"), nowMs: 0, servingNotAfterMs: nil)
        #expect(renewal.state == .unissued && renewal.failuresInRow == 0)
    }

    @Test func failuresBackOffDoublingToTheLimitAtLeastAsLongAsTheServerAsksAndASuccessResets() {
        var renewal = Self.renewal()
        var now: Int64 = 0
        var waits: [Int64] = []
        for _ in 0..<6 {
            #expect(renewal.orderIfDue(nowMs: now) == true)
            renewal.failed(ACMEProblem("refused"), nowMs: now, servingNotAfterMs: nil)
            guard case .failing(_, let retryAt, _) = renewal.state else {
                Issue.record("not failing")
                return
            }
            #expect(renewal.orderIfDue(nowMs: retryAt - 1) == false)
            waits.append(retryAt - now)
            now = retryAt
        }
        #expect(waits == [300_000, 600_000, 1_200_000, 2_400_000, 3_600_000, 3_600_000])
        #expect(renewal.orderIfDue(nowMs: now) == true)
        renewal.failed(ACMEProblem("slow down", retryAfter: .seconds(7_200)), nowMs: now, servingNotAfterMs: 5)
        #expect(
            renewal.state
                == .failing(
                    problem: ACMEProblem("slow down", retryAfter: .seconds(7_200)),
                    retryAtMs: now + 7_200_000,
                    notAfterMs: 5
                )
        )
        #expect(renewal.orderIfDue(nowMs: now + 7_200_000) == true)
        renewal.issued(notBeforeMs: now, notAfterMs: now + 90 * Self.day, jitter: 0)
        #expect(renewal.failuresInRow == 0)
    }

    @Test func aClockJumpedPastEveryDeadlineMakesOneOrderDueAndABackwardJumpOnlyWaits() {
        var renewal = Self.renewal()
        renewal.found(notBeforeMs: 0, notAfterMs: 90 * Self.day, jitter: 0.5)
        #expect(renewal.orderIfDue(nowMs: -Self.day * 1_000) == false, "a clock set back waits longer, nothing else")
        #expect(renewal.orderIfDue(nowMs: Self.day * 10_000) == true, "past the expiry: due at once")
        #expect(renewal.orderIfDue(nowMs: Self.day * 10_000) == false)
    }

    @Test func aCertificateFoundAtStartIsRenewedInItsTimeNotReordered() {
        var renewal = Self.renewal()
        renewal.found(notBeforeMs: 0, notAfterMs: 90 * Self.day, jitter: 0)
        #expect(renewal.orderIfDue(nowMs: Self.day) == false)
        renewal.found(notBeforeMs: 0, notAfterMs: 1, jitter: 0)
        #expect(renewal.state == .issued(notAfterMs: 90 * Self.day, renewAtMs: 60 * Self.day), "found once")
    }

    @Test func eachFailureInARowTurnsToTheOtherChallengeAndTheOneThatWorkedIsKeptForRenewals() {
        var renewal = Self.renewal()
        #expect(renewal.challenge == .http01, "HTTP-01 first")
        #expect(renewal.orderIfDue(nowMs: 0) == true)
        #expect(renewal.state == .ordering(sinceMs: 0, challenge: .http01))
        renewal.failed(ACMEProblem("port 80 unreachable"), nowMs: 0, servingNotAfterMs: nil)
        #expect(renewal.challenge == .tlsALPN01)
        #expect(renewal.orderIfDue(nowMs: Self.day) == true)
        #expect(renewal.state == .ordering(sinceMs: Self.day, challenge: .tlsALPN01))
        renewal.issued(notBeforeMs: Self.day, notAfterMs: 91 * Self.day, jitter: 0)
        #expect(renewal.challenge == .tlsALPN01, "what worked is tried first at the renewal")
        #expect(renewal.orderIfDue(nowMs: 61 * Self.day) == true)
        renewal.failed(ACMEProblem("port 443 unreachable now"), nowMs: 61 * Self.day, servingNotAfterMs: nil)
        #expect(renewal.challenge == .http01)
    }

    @Test func theChallengeBoardAnswersOpenTokensOnlyAndOnlyUnderItsPath() {
        let board = ChallengeBoard()
        board.post(token: "abc", keyAuthorization: "abc.thumb")
        #expect(board.answer(target: "/.well-known/acme-challenge/abc") == "abc.thumb")
        #expect(board.answer(target: "/.well-known/acme-challenge/abcd") == nil)
        #expect(board.answer(target: "/.well-known/acme-challenge/abc?x=1") == nil)
        #expect(board.answer(target: "/other/abc") == nil)
        board.withdraw(token: "abc")
        #expect(board.answer(target: "/.well-known/acme-challenge/abc") == nil)
    }
}
