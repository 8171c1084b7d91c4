/// Applies one session's calls in the order they arrived: a call's effect starts only
/// once the previous call's effect has finished. What a call waits for after its effect
/// runs as a child task of the lane, so a long wait never holds back the calls behind it.
///
/// The connection handler owns the lane. It lives on an event loop and cannot await, so
/// the lane's task is the one unstructured task of a connection; the handler ends it when
/// it is removed. Effects already received still take effect, in order; waits are
/// cancelled, since their answers could no longer be delivered.
final class RPCSessionLane: Sendable {
    /// A call's effect; it returns what the call still waits for, if anything.
    typealias Effect = @Sendable () async -> Remainder?
    typealias Remainder = @Sendable () async -> Void

    private let effects: AsyncStream<Effect>.Continuation
    private let task: Task<Void, Never>

    init() {
        let (stream, effects) = AsyncStream.makeStream(of: Effect.self)
        self.effects = effects
        // Held; the handler on its event loop cannot await, so `finish()` ends the stream this
        // task reads, and the task's group then cancels what still waits.
        task = Task {
            await withDiscardingTaskGroup { group in
                for await effect in stream {
                    guard let remainder = await effect() else { continue }
                    group.addTask { await remainder() }
                }
                group.cancelAll()
            }
        }
    }

    func enqueue(_ effect: @escaping Effect) {
        effects.yield(effect)
    }

    /// No more calls: the queued effects run, then the waits are cancelled.
    func finish() {
        effects.finish()
    }
}
