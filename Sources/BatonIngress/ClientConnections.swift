import NIOConcurrencyHelpers
import NIOCore

/// The ingress's open client connections, so that a host handing over can let them finish:
/// each is told to quiesce (`ChannelShouldQuiesceEvent`), also one accepted after that began,
/// and `allClosed()` returns once none is left.
final class ClientConnections: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var quiescing = false
        var waiting: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let quiescing = state.withLockedValue { state in
            state.open[id] = channel
            return state.quiescing
        }
        channel.closeFuture.whenComplete { [self] _ in remove(id) }
        if quiescing { Self.tellToQuiesce(channel) }
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
            state.quiescing = true
            return Array(state.open.values)
        }
        for channel in channels { Self.tellToQuiesce(channel) }
    }

    /// Returns once no connection is open, or after `limit`.
    func allClosed(within limit: Duration) async {
        await withCheckedContinuation { continuation in
            let id = state.withLockedValue { state -> UInt64? in
                guard !state.open.isEmpty else { return nil }
                state.nextWaiter += 1
                state.waiting[state.nextWaiter] = continuation
                return state.nextWaiter
            }
            guard let id else { return continuation.resume() }
            // The deadline of one waiter, which resumes it once; its end cancels nothing else.
            Task { [self] in
                try? await Task.sleep(for: limit)
                state.withLockedValue { $0.waiting.removeValue(forKey: id) }?.resume()
            }
        }
    }

    private static func tellToQuiesce(_ channel: any Channel) {
        channel.eventLoop.execute { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
    }
}
