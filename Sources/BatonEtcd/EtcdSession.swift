/// Keeps a node's etcd lease (`SessionLifecycle`) for as long as `run` runs, and revokes it
/// when cancelled, so the node's keys go at once rather than at the end of the TTL.
public struct EtcdSession: Sendable {
    public let client: EtcdClient
    public let ttl: Duration

    public init(client: EtcdClient, ttl: Duration) {
        self.client = client
        self.ttl = ttl
    }

    /// Runs until cancelled: `joined` hears of every new lease (write the node's keys under
    /// it), `lost` of every lease that is or may be gone (stop counting on those keys).
    public func run(
        joined: (EtcdLeaseID) async -> Void,
        lost: (EtcdLeaseID) async -> Void
    ) async {
        let clock = ContinuousClock()
        var life = SessionLifecycle(ttl: ttl)
        var actions: [SessionLifecycle.Action] = [.grant(after: .zero)]
        while true {
            var due: (at: ContinuousClock.Instant, call: Call)?
            for action in actions {
                switch action {
                case .joined(let lease): await joined(lease)
                case .lost(let lease): await lost(lease)
                case .revoke(let lease):
                    // Leaving is what cancellation asks for; the revoke must still reach etcd, so it
                    // runs in a task of its own, which the cancellation does not reach, and is awaited.
                    let client = self.client
                    await Task { try? await client.revoke(lease) }.value
                case .grant(let after): due = (clock.now + after, .grant)
                case .renew(let at): due = (at, .renew)
                }
            }
            guard let due else { return }
            do {
                try await clock.sleep(until: due.at)
            } catch {
                actions = life.handle(.leave)
                continue
            }
            actions = await step(&life, due.call, clock: clock)
        }
    }

    /// The call the lifecycle asked for next.
    private enum Call {
        case grant
        case renew
    }

    /// One call to etcd, and what the lifecycle makes of its answer.
    private func step(
        _ life: inout SessionLifecycle,
        _ call: Call,
        clock: ContinuousClock
    ) async -> [SessionLifecycle.Action] {
        let sent = clock.now
        if call == .grant {
            do { return life.handle(.granted(try await client.grant(ttl: ttl), sentAt: sent)) } catch {
                return life.handle(.grantFailed(now: clock.now))
            }
        }
        guard case .alive(let lease, _) = life.state else { return life.handle(.tick(now: clock.now)) }
        do { return life.handle(.renewed(ttl: try await client.keepAlive(lease), sentAt: sent)) } catch {
            return life.handle(.renewFailed(now: clock.now))
        }
    }
}
