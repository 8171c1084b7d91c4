import BatonCore
import NIOConcurrencyHelpers

/// The simulation's time: it moves only when the simulation says so, and wakes sleepers in
/// the order of their deadlines, then of their arrival, so a seed replays the same way.
final class SimulatedClock: CoreClock {
    private struct Sleeper {
        var deadline: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Int64 = 1_000
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
    }

    private let state = NIOLockedValueBox(State())

    func nowMs() -> Int64 { state.withLockedValue { $0.now } }

    func suspend(untilMs deadline: Int64) async throws {
        let id = state.withLockedValue { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLockedValue { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    /// Moves time forward and wakes every sleeper whose deadline has come, earliest first.
    func advance(byMs amount: Int64) {
        let due = state.withLockedValue { state -> [Sleeper] in
            state.now += amount
            let ready = state.sleepers.filter { $0.value.deadline <= state.now }.sorted { ($0.value.deadline, $0.key) < ($1.value.deadline, $1.key) }
            for (id, _) in ready { state.sleepers.removeValue(forKey: id) }
            return ready.map(\.value)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    var sleeping: Int { state.withLockedValue { $0.sleepers.count } }
}

/// SplitMix64: small, fast, and the same sequence for the same seed everywhere.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
