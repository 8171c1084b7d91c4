/// One deployment, from its deploy to its end. The transitions are pure and return what
/// the launcher must do; the launcher owns the timer and the pools.
///
/// | state \ event | quorum | ready deadline | superseded | cut over | drain event | host restarted |
/// |---|---|---|---|---|---|---|
/// | waiting | cuttingOver: stop timer, cut over | cuttingOver (may proceed) or failed: give up its pools | superseded: give up its pools | – | – | waiting: wake at the ready deadline |
/// | waiting, app removed | failed: give up its pools | | | | | |
/// | cuttingOver | – | – | – | draining: release what is drained, wake at the request deadline | – | done |
/// | draining | – | – | – | – | as `DrainLifecycle`; when it is over, done | done |
/// | done, failed, superseded | – | – | – | – | – | – |
struct DeploymentLifecycle: Equatable {
    enum State: Equatable {
        case waiting
        /// The broker is routing to the new pools; the drain starts once it has.
        case cuttingOver
        case draining(DrainLifecycle)
        case done
        case failed
        case superseded
    }

    /// The deadlines a deployment waits for; one timer at a time.
    enum Deadline: Equatable {
        case ready
        case requestDrain
        case streamDrain
    }

    enum Action: Equatable {
        /// Route the app to the deployment's pools, then call `cutOverApplied`.
        case cutOver
        /// The pools this deployment started and that do not serve stop, or drain on.
        case giveUpPools(ScaleDownReason)
        /// A pool's drain is over: scale it down.
        case release(pool: PoolID, ScaleDownReason)
        /// Arm the timer for `deadline`, replacing any earlier one.
        case wake(at: Deadline)
        case stopTimer
        /// Publish the event, with the deployment's reason.
        case announce(EventType)
    }

    private(set) var state: State
    /// Why it cut over the way it did, failed or ended; shown with its state.
    private(set) var reason: String?

    init() {
        state = .waiting
    }

    /// As the store kept it: a deployment caught mid-cutover resumes as if it were draining.
    init(restored phase: DeploymentState, reason: String?) {
        self.reason = reason
        switch phase {
        case .waiting: state = .waiting
        case .cutover: state = .cuttingOver
        case .draining: state = .draining(DrainLifecycle(holding: [:]))
        case .done: state = .done
        case .failed: state = .failed
        case .superseded: state = .superseded
        }
    }

    /// The state as the protocol names it.
    var phase: DeploymentState {
        switch state {
        case .waiting: .waiting
        case .cuttingOver: .cutover
        case .draining: .draining
        case .done: .done
        case .failed: .failed
        case .superseded: .superseded
        }
    }

    var isWaiting: Bool { state == .waiting }

    /// Whether this deployment's drain holds `pool`.
    func holds(_ pool: PoolID) -> Bool {
        guard case .draining(let drain) = state else { return false }
        return drain.holds(pool)
    }

    /// The pools its drain still holds.
    var heldPools: Set<PoolID> {
        guard case .draining(let drain) = state else { return [] }
        return Set(drain.holding.keys)
    }

    /// Every waited-for service has its quorum (or the readiness gate is off: `reason`).
    mutating func quorumReached(reason: String? = nil) -> [Action] {
        guard state == .waiting else { return [] }
        state = .cuttingOver
        self.reason = reason
        return [.stopTimer, .cutOver]
    }

    /// The ready timeout passed. With `onTimeout: .proceed` and one ready sandbox per
    /// service it cuts over anyway; otherwise it fails and its pools are rolled back.
    mutating func readyDeadlinePassed(
        onTimeout: TimeoutPolicy,
        oneReadyPerService: Bool,
        timeout: Duration,
        progress: String,
        failures: [String]
    ) -> [Action] {
        guard state == .waiting else { return [] }
        if onTimeout == .proceed, oneReadyPerService {
            return quorumReached(reason: "proceeded after \(timeout.milliseconds) ms with \(progress)")
        }
        var reason = "not ready after \(timeout.milliseconds) ms: \(progress)"
        if !failures.isEmpty { reason += "; \(failures.count) sandbox(es) failed: " + failures.joined(separator: "; ") }
        state = .failed
        self.reason = reason
        return [.giveUpPools(.rollback), .announce(.deployFailed)]
    }

    /// A newer deploy of the app came before this one cut over.
    mutating func superseded(by newer: DeploymentID, version: String) -> [Action] {
        guard state == .waiting else { return [] }
        state = .superseded
        reason = "superseded by \(newer) (version \(version))"
        return [.stopTimer, .announce(.deploySuperseded), .giveUpPools(.superseded)]
    }

    /// Its app is being removed before it cut over: it fails, and its pools stop.
    mutating func abandoned(because reason: String) -> [Action] {
        guard state == .waiting else { return [] }
        state = .failed
        self.reason = reason
        return [.stopTimer, .announce(.deployFailed), .giveUpPools(.rollback)]
    }

    /// The broker routes to the new pools. `cutAway` is each pool cut away from, with its
    /// sandboxes that still carry something, and `elsewhere` those the cluster's other nodes
    /// must be done with too; without the readiness gate none is waited for.
    mutating func cutOverApplied(cutAway: [PoolID: Set<SandboxID>], elsewhere: Set<PoolID>, gated: Bool) -> [Action] {
        guard state == .cuttingOver else { return [] }
        var actions: [Action] = []
        for pool in cutAway.keys.sorted() where (cutAway[pool]!.isEmpty && !elsewhere.contains(pool)) || !gated {
            actions.append(.release(pool: pool, gated ? .drained : .readinessGateOff))
        }
        state = .draining(gated ? DrainLifecycle(holding: cutAway, elsewhere: elsewhere) : DrainLifecycle(holding: [:]))
        return actions + [.wake(at: .requestDrain)] + drain { $0.begin() }
    }

    /// A drain a new leader found under way goes on from now: the request drain timeout
    /// starts again, and `cutAway` and `elsewhere` say what still holds each pool.
    mutating func drainResumed(cutAway: [PoolID: Set<SandboxID>], elsewhere: Set<PoolID>) -> [Action] {
        switch state {
        case .cuttingOver, .draining: state = .cuttingOver
        case .waiting, .done, .failed, .superseded: return []
        }
        return cutOverApplied(cutAway: cutAway, elsewhere: elsewhere, gated: true)
    }

    /// Runs one transition of the drain, once it is under way.
    mutating func drain(_ transition: (inout DrainLifecycle) -> [DrainLifecycle.Action]) -> [Action] {
        guard case .draining(var drain) = state else { return [] }
        let steps = transition(&drain)
        state = .draining(drain)
        var actions: [Action] = []
        for step in steps {
            switch step {
            case .release(let pool, let reason): actions.append(.release(pool: pool, reason))
            case .waitForStreams: actions.append(.wake(at: .streamDrain))
            case .finish:
                state = .done
                actions += [.stopTimer, .announce(.deployDone)]
            }
        }
        return actions
    }

    /// The host started again on its store. A waiting deploy waits its whole ready timeout
    /// again; a drain ends, as the leases it waited for died with the old process.
    mutating func hostRestarted() -> [Action] {
        switch state {
        case .waiting:
            return [.wake(at: .ready)]
        case .cuttingOver, .draining:
            state = .done
            reason = "the host restarted while the old version drained"
            return [.announce(.deployDone)]
        case .done, .failed, .superseded:
            return []
        }
    }
}
