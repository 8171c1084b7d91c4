import NIOConcurrencyHelpers
import NIOCore

/// The ingress's open client connections, so that a host handing over can let them finish:
/// each is told to quiesce (`ChannelShouldQuiesceEvent`), also one accepted after that began,
/// and `allClosed(within:)` returns once none is left.
final class ClientConnections: Sendable {
    private enum Phase {
        case accepting
        /// Every connection open or accepted from now on is told to quiesce.
        case quiescing
    }

    private struct State {
        var phase = Phase.accepting
        var open: [ObjectIdentifier: any Channel] = [:]
        var waiting: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let phase = state.withLockedValue { state in
            state.open[id] = channel
            return state.phase
        }
        channel.closeFuture.whenComplete { [self] _ in remove(id) }
        if case .quiescing = phase { Self.tellToQuiesce(channel) }
    }

    private func remove(_ id: ObjectIdentifier) {
        let done = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.open.removeValue(forKey: id)
            guard state.open.isEmpty else { return [] }
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for continuation in done { continuation.resume() }
    }

    func quiesce() {
        let channels = state.withLockedValue { state in
            state.phase = .quiescing
            return Array(state.open.values)
        }
        for channel in channels { Self.tellToQuiesce(channel) }
    }

    /// Returns once no connection is open, or after `limit`: the deadline is a child of the
    /// caller's task, so nothing outlives the call.
    func allClosed(within limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.allClosed() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once no connection is open, or once its task is cancelled.
    private func allClosed() async {
        let id = state.withLockedValue { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Under the lock, so that a cancellation either sees the waiter or is seen here.
                let waits = state.withLockedValue { state in
                    guard !state.open.isEmpty, !Task.isCancelled else { return false }
                    state.waiting[id] = continuation
                    return true
                }
                if !waits { continuation.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.waiting.removeValue(forKey: id) }?.resume()
        }
    }

    private static func tellToQuiesce(_ channel: any Channel) {
        channel.eventLoop.execute { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
    }
}
