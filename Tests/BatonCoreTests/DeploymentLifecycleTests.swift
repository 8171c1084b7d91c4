import Testing

@testable import BatonCore

/// A deployment's lifecycle on its own: each event in each state, repeats included.
@Suite("Deployment lifecycle")
struct DeploymentLifecycleTests {
    @Test func aQuorumCutsOverOnceAndTheDrainEndsTheDeployment() {
        var life = DeploymentLifecycle()
        #expect(life.quorumReached() == [.stopTimer, .cutOver])
        #expect(life.quorumReached() == [], "a second quorum signal while cutting over changes nothing")
        #expect(life.phase == .cutover)
        let actions = life.cutOverApplied(cutAway: ["p-1": ["a"], "p-2": []], elsewhere: [], gated: true)
        #expect(actions == [.release(pool: "p-2", .drained), .wake(at: .requestDrain)])
        #expect(life.holds("p-1") && !life.holds("p-2"))
        #expect(
            life.drain { $0.sandboxDrained("a", of: "p-1") } == [
                .release(pool: "p-1", .drained), .stopTimer, .announce(.deployDone),
            ]
        )
        #expect(life.phase == .done)
        #expect(
            life.drain { $0.sandboxDrained("a", of: "p-1") } == [],
            "a finished deployment ignores late drain signals"
        )
    }

    @Test func nothingToDrainEndsAtOnceAndWithoutTheGateNothingIsWaitedFor() {
        var gated = DeploymentLifecycle()
        _ = gated.quorumReached()
        #expect(
            gated.cutOverApplied(cutAway: [:], elsewhere: [], gated: true) == [
                .wake(at: .requestDrain), .stopTimer, .announce(.deployDone),
            ]
        )
        var ungated = DeploymentLifecycle()
        _ = ungated.quorumReached(reason: "readiness gate off")
        #expect(ungated.reason == "readiness gate off")
        #expect(
            ungated.cutOverApplied(cutAway: ["p-1": ["a"]], elsewhere: [], gated: false)
                == [
                    .release(pool: "p-1", .readinessGateOff), .wake(at: .requestDrain), .stopTimer,
                    .announce(.deployDone),
                ]
        )
    }

    @Test func theReadyDeadlineRollsBackOrProceedsOnlyWithOneReadySandboxPerService() {
        var failing = DeploymentLifecycle()
        let failed = failing.readyDeadlinePassed(
            onTimeout: .proceed,
            oneReadyPerService: false,
            timeout: .milliseconds(500),
            progress: "web 0 of 2 ready",
            failures: ["s1 exited"]
        )
        #expect(failed == [.giveUpPools(.rollback), .announce(.deployFailed)])
        #expect(failing.phase == .failed)
        #expect(failing.reason == "not ready after 500 ms: web 0 of 2 ready; 1 sandbox(es) failed: s1 exited")
        #expect(failing.quorumReached() == [], "a quorum after the deadline is too late")

        var proceeding = DeploymentLifecycle()
        let proceeded = proceeding.readyDeadlinePassed(
            onTimeout: .proceed,
            oneReadyPerService: true,
            timeout: .milliseconds(500),
            progress: "web 1 of 2 ready",
            failures: []
        )
        #expect(proceeded == [.stopTimer, .cutOver])
        #expect(proceeding.reason == "proceeded after 500 ms with web 1 of 2 ready")
    }

    @Test func onlyAWaitingDeploymentIsSupersededAndItsPoolsAreGivenUp() {
        var waiting = DeploymentLifecycle()
        #expect(
            waiting.superseded(by: "d-2", version: "v2") == [
                .stopTimer, .announce(.deploySuperseded), .giveUpPools(.superseded),
            ]
        )
        #expect(waiting.reason == "superseded by d-2 (version v2)")
        var draining = DeploymentLifecycle()
        _ = draining.quorumReached()
        _ = draining.cutOverApplied(cutAway: ["p-1": ["a"]], elsewhere: [], gated: true)
        #expect(draining.superseded(by: "d-3", version: "v3") == [])
        #expect(draining.phase == .draining)
    }

    @Test func theStreamDeadlineFollowsTheRequestDeadlineWhenStreamsRemain() {
        var life = DeploymentLifecycle()
        _ = life.quorumReached()
        _ = life.cutOverApplied(cutAway: ["p-1": ["a"], "p-2": ["b"]], elsewhere: [], gated: true)
        #expect(
            life.drain { $0.requestDeadlinePassed(streaming: ["p-2"]) } == [
                .release(pool: "p-1", .drainTimeout), .wake(at: .streamDrain),
            ]
        )
        #expect(
            life.drain { $0.streamDeadlinePassed() } == [
                .release(pool: "p-2", .streamDrainDeadline), .stopTimer, .announce(.deployDone),
            ]
        )
    }

    @Test func aRestartResumesTheWaitAndEndsADrain() {
        var waiting = DeploymentLifecycle(restored: .waiting, reason: nil)
        #expect(waiting.hostRestarted() == [.wake(at: .ready)])
        #expect(waiting.phase == .waiting)
        for phase in [DeploymentState.cutover, .draining] {
            var draining = DeploymentLifecycle(restored: phase, reason: nil)
            #expect(draining.hostRestarted() == [.announce(.deployDone)])
            #expect(draining.phase == .done)
            #expect(draining.reason == "the host restarted while the old version drained")
        }
        for phase in [DeploymentState.done, .failed, .superseded] {
            var finished = DeploymentLifecycle(restored: phase, reason: "kept")
            #expect(finished.hostRestarted() == [])
            #expect(finished.phase == phase && finished.reason == "kept")
        }
    }
}
