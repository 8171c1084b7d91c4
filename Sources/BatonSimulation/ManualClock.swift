import BatonCore
import NIOConcurrencyHelpers

/// A clock that moves only when told: tests of timeouts advance it instead of waiting, and
/// the simulation jumps it past every TTL and deadline. Sleepers wake in the order of their
/// deadlines, then of their arrival, so a seed replays the same way.
public final class ManualClock: CoreClock {
    private struct Sleeper {
        var deadline: CoreInstant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = CoreInstant(sinceStart: .seconds(1))
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
        var watchers: [Int: (deadline: CoreInstant, continuation: CheckedContinuation<Void, Never>)] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public var now: CoreInstant { state.withLockedValue { $0.now } }

    public func sleep(until deadline: CoreInstant) async throws {
        let id = state.withLockedValue { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resumeNow, watchers) = state.withLockedValue {
                    state -> (Bool, [CheckedContinuation<Void, Never>]) in
                    if deadline <= state.now || Task.isCancelled { return (true, []) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    let matching = state.watchers.filter { $0.value.deadline == deadline }
                    for watcher in matching.keys { state.watchers[watcher] = nil }
                    return (false, matching.values.map(\.continuation))
                }
                for watcher in watchers { watcher.resume() }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLockedValue { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    /// Returns once something sleeps until exactly `deadline`, or once cancelled (a test's
    /// time limit): a test's way to know a timer is set before it moves time past it.
    public func waitForSleeper(until deadline: CoreInstant) async {
        let id = state.withLockedValue { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let present = state.withLockedValue { state -> Bool in
                    if Task.isCancelled || state.sleepers.values.contains(where: { $0.deadline == deadline }) {
                        return true
                    }
                    state.watchers[id] = (deadline, continuation)
                    return false
                }
                if present { continuation.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.watchers.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    /// The earliest deadline a sleeper waits for, if it is no later than `limit`.
    public func nextDeadline(notAfter limit: CoreInstant) -> CoreInstant? {
        state.withLockedValue { state in state.sleepers.values.map(\.deadline).filter { $0 <= limit }.min() }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come, earliest first.
    public func advance(by amount: Duration) {
        let due = state.withLockedValue { state -> [Sleeper] in
            state.now = state.now + amount
            let ready = state.sleepers.filter { $0.value.deadline <= state.now }.sorted {
                ($0.value.deadline, $0.key) < ($1.value.deadline, $1.key)
            }
            for (id, _) in ready { state.sleepers.removeValue(forKey: id) }
            return ready.map(\.value)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
