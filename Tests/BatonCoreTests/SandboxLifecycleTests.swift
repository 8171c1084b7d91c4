import Testing

@testable import BatonCore

/// The sandbox's transitions on their own: no actor, no clock, no I/O.
@Suite("Sandbox lifecycle")
struct SandboxLifecycleTests {
    private func serving(_ url: String = "http://127.0.0.1:1") -> SandboxLifecycle {
        var life = SandboxLifecycle()
        _ = life.reported(.starting, url: nil, poolRetired: false)
        let actions = life.reported(.ready, url: url, poolRetired: false)
        guard case .probe(let generation)? = actions.last else {
            Issue.record("no check asked for: \(actions)")
            return life
        }
        #expect(life.checkPassed(generation: generation) == [.announceAdmitted])
        return life
    }

    @Test func aReadyReportIsCheckedBeforeItServesAndAStaleCheckCountsForNothing() {
        var life = SandboxLifecycle()
        guard case .probe(let first)? = life.reported(.ready, url: "http://127.0.0.1:1", poolRetired: false).last else {
            Issue.record("no check")
            return
        }
        #expect(!life.isServing)
        _ = life.reported(.ready, url: "http://127.0.0.1:2", poolRetired: false)
        #expect(life.checkPassed(generation: first) == [], "a check of the old URL does not admit the new one")
        #expect(!life.isServing)
    }

    @Test func aRepeatedReportChangesNothing() {
        var life = serving()
        #expect(life.reported(.ready, url: "http://127.0.0.1:1", poolRetired: false) == [])
        #expect(life.isServing)
        _ = life.reported(.stopped, url: nil, poolRetired: false)
        #expect(life.reported(.stopped, url: nil, poolRetired: false) == [])
    }

    @Test func aSuspectTakesNoLeasesUntilItsCheckPassesAgain() {
        var life = serving()
        let actions = life.invalidated()
        #expect(actions.first == .revokeLeases(.suspect))
        #expect(life.isSuspect && !life.isServing)
        guard case .probe(let generation)? = actions.last else {
            Issue.record("no check")
            return
        }
        #expect(life.checkPassed(generation: generation) == [.announceAdmitted])
    }

    @Test func aDrainingSandboxServesAgainWhenItsPoolComesBackAndIgnoresAStaleStartingReport() {
        var life = serving()
        #expect(life.cutAway() == [.stopProbe, .revokeLeases(.cutover)])
        #expect(life.state == .draining && life.owesDrainAnnouncement)
        #expect(life.reported(.starting, url: nil, poolRetired: false) == [])
        #expect(life.returned() == [.announceAdmitted])
        #expect(life.isServing)
    }

    @Test func aRetiredSandboxCountsOnlyOnceReportedAfterItsPoolRises() {
        var life = serving()
        #expect(life.retired() == [.stopProbe, .revokeLeases(.draining)])
        #expect(life.returned() == [], "its scheduler may be stopping it")
        #expect(life.reported(.ready, url: "http://127.0.0.1:1", poolRetired: true) == [])
        #expect(!life.isServing)
        guard case .probe(let generation)? = life.reported(.ready, url: "http://127.0.0.1:1", poolRetired: false).last
        else {
            Issue.record("no check once reported again")
            return
        }
        #expect(life.checkPassed(generation: generation) == [.announceAdmitted])
    }

    @Test func anEndRevokesItsLeasesAndIsAnnouncedOnce() {
        var life = serving()
        #expect(
            life.reported(.failed, url: nil, poolRetired: false) == [.stopProbe, .revokeLeases(.stopped), .announceEnd]
        )
        #expect(life.state == .failed && life.hasEnded)
        #expect(life.cutAway() == [] && life.retired() == [] && life.invalidated() == [])
    }
}
