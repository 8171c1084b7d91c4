/// What one pool is for: nothing, a deploy that waits for it, its app's active version, or
/// a drain. The transitions are pure and return what the launcher must do; only `stopped`
/// runs nothing, and only a pool that neither serves nor is waited for or drained is stopped.
///
/// | state \ event | wanted by w | serves | cut away by d | released by d | given up by w |
/// |---|---|---|---|---|---|
/// | stopped | starting(w): return to service | serving | – | – | – |
/// | starting(w′) | starting(w) | serving | – | kept | stopped if w = w′: scale down |
/// | serving | – | – | draining(d) | kept | – |
/// | draining(h) | reclaimed(w, h): return to service | serving: h lets go | – | stopped if d = h: scale down | – |
/// | reclaimed(w′, h) | reclaimed(w, h) | serving: h lets go | – | starting(w′) if d = h, kept | draining(h) if w = w′: drain again |
struct PoolLifecycle: Equatable {
    enum State: Equatable {
        case stopped
        /// A waiting deployment wants it.
        case starting(for: DeploymentID)
        case serving
        /// A deployment that cut away from it waits for its sandboxes to finish.
        case draining(for: DeploymentID)
        /// Taken back by a waiting deployment while it drains for another one.
        case reclaimed(for: DeploymentID, drainingFor: DeploymentID)
    }

    enum Action: Equatable {
        /// Its live sandboxes take leases again.
        case returnToService
        /// Its sandboxes drain again, as they did before it was taken back.
        case resumeDrain
        /// The drain held by this deployment is over for the pool, which serves again.
        case endDrain(of: DeploymentID)
        /// Scale it to 0 and retire its sandboxes.
        case scaleDown(ScaleDownReason)
        /// Asked to stop, it is kept: it serves, is waited for or drains for another.
        case keep(ScaleDownReason)
    }

    private(set) var state: State

    init(_ state: State = .stopped) {
        self.state = state
    }

    /// Whether something wants it to run: a pool in this state is never scaled down.
    var isNeeded: Bool {
        switch state {
        case .starting, .serving, .reclaimed: true
        case .stopped, .draining: false
        }
    }

    /// The deployment that waits for it, if any.
    var waiter: DeploymentID? {
        switch state {
        case .starting(let waiter), .reclaimed(let waiter, _): waiter
        case .stopped, .serving, .draining: nil
        }
    }

    /// The deployment whose drain holds it, if any.
    var drainHolder: DeploymentID? {
        switch state {
        case .draining(let holder), .reclaimed(_, let holder): holder
        case .stopped, .starting, .serving: nil
        }
    }

    /// A deploy waits for this pool's quorum (it is new, or a rollback takes it back).
    mutating func wanted(by deployment: DeploymentID) -> [Action] {
        switch state {
        case .stopped:
            state = .starting(for: deployment)
            return [.returnToService]  // its sandboxes were retired when it stopped
        case .starting:
            state = .starting(for: deployment)
            return []
        case .draining(let holder):
            state = .reclaimed(for: deployment, drainingFor: holder)
            return [.returnToService]
        case .reclaimed(_, let holder):
            state = .reclaimed(for: deployment, drainingFor: holder)
            return []
        case .serving:
            return []
        }
    }

    /// A cutover routes the app to it.
    mutating func serves() -> [Action] {
        let holder = drainHolder
        state = .serving
        return holder.map { [.endDrain(of: $0)] } ?? []
    }

    /// A cutover routed the app away from it; `deployment`'s drain now holds it.
    mutating func cutAway(by deployment: DeploymentID) -> [Action] {
        guard state == .serving else { return [] }
        state = .draining(for: deployment)
        return []
    }

    /// `deployment`'s drain is over for it (drained, or out of time).
    mutating func released(by deployment: DeploymentID, reason: ScaleDownReason) -> [Action] {
        switch state {
        case .draining(deployment):
            state = .stopped
            return [.scaleDown(reason)]
        case .reclaimed(let waiter, deployment):
            state = .starting(for: waiter)
            return [.keep(reason)]
        case .stopped:
            return []
        case .starting, .serving, .draining, .reclaimed:
            return [.keep(reason)]
        }
    }

    /// The deploy that wanted it was superseded or rolled back.
    mutating func givenUp(by deployment: DeploymentID, reason: ScaleDownReason) -> [Action] {
        switch state {
        case .starting(deployment):
            state = .stopped
            return [.scaleDown(reason)]
        case .reclaimed(deployment, let holder):
            state = .draining(for: holder)
            return [.resumeDrain]
        case .stopped, .starting, .serving, .draining, .reclaimed:
            return []
        }
    }

    /// As a restart finds it: serving, waited for, draining for a drain that goes on, or,
    /// when it still runs for a drain the restart ended, scaled down.
    static func restored(
        serving: Bool,
        waitedForBy waiter: DeploymentID?,
        drainedFor drainer: DeploymentID? = nil,
        running: Bool
    ) -> (PoolLifecycle, [Action]) {
        if serving { return (PoolLifecycle(.serving), []) }
        if let waiter { return (PoolLifecycle(.starting(for: waiter)), []) }
        if let drainer { return (PoolLifecycle(.draining(for: drainer)), []) }
        return (PoolLifecycle(.stopped), running ? [.scaleDown(.hostRestarted)] : [])
    }
}
