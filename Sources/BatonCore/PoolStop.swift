/// An operator stopping a serving pool (`app.scale` to 0, or `app.remove`): the pool stays
/// routed but takes no new leases, drains as a pool a cutover left does, and only then goes
/// to 0. The transitions are pure and return what the launcher must do.
///
/// | state \ event | a sandbox drained | request deadline | stream deadline |
/// |---|---|---|---|
/// | draining | as `DrainLifecycle`; when it is over, stopped: scale to 0 | as `DrainLifecycle` | as `DrainLifecycle` |
/// | stopped | – | – | – |
/// | copiedDrain (a follower's copy) | – | – | – |
///
/// Raising the pool again, or a cutover away from it, ends the stop: the launcher drops it.
struct PoolStop: Equatable {
    enum State: Equatable {
        case draining(DrainLifecycle)
        /// At 0 until an operator or a deploy raises it.
        case stopped
        /// A follower's copy of a stop its leader drains: it takes no transition here.
        case copiedDrain
    }

    enum Action: Equatable {
        case scaleToZero(ScaleDownReason)
        /// Arm the stop's timer for `deadline`, replacing any earlier one.
        case wake(at: DeploymentLifecycle.Deadline)
        case stopTimer
    }

    private(set) var state: State

    /// A stop of `pool`, whose sandboxes in `undrained` still carry something, and which the
    /// cluster's other nodes must be done with too when `elsewhere`.
    static func begin(pool: PoolID, undrained: Set<SandboxID>, elsewhere: Bool) -> (PoolStop, [Action]) {
        var stop = PoolStop(
            state: .draining(DrainLifecycle(holding: [pool: undrained], elsewhere: elsewhere ? [pool] : []))
        )
        let actions = stop.drain { $0.begin() }
        return (stop, actions.isEmpty ? [.wake(at: .requestDrain)] : actions)
    }

    /// As a restart finds a pool stored at 0 while it serves.
    static var restored: PoolStop { PoolStop(state: .stopped) }

    /// As a follower copies a stop its leader drains.
    static var copiedDrain: PoolStop { PoolStop(state: .copiedDrain) }

    /// Whether the pool is still draining toward 0.
    var isDraining: Bool {
        switch state {
        case .draining, .copiedDrain: true
        case .stopped: false
        }
    }

    /// As `app.status` shows it.
    var name: String { isDraining ? "draining" : "stopped" }

    /// Runs one transition of the drain, while it is under way.
    mutating func drain(_ transition: (inout DrainLifecycle) -> [DrainLifecycle.Action]) -> [Action] {
        guard case .draining(var drain) = state else { return [] }
        var actions: [Action] = []
        var reason = ScaleDownReason.drained
        for step in transition(&drain) {
            switch step {
            case .release(_, let why): reason = why
            case .waitForStreams: actions.append(.wake(at: .streamDrain))
            case .finish:
                state = .stopped
                return [.stopTimer, .scaleToZero(reason)]
            }
        }
        state = .draining(drain)
        return actions
    }
}
