/// What a node still carries on one pool's draining sandboxes: its own leases, and how many
/// of them carry streams (docs/cluster.md, "Cutover and drain").
public struct DrainHold: Sendable, Hashable {
    public var leases: Int
    public var streams: Int

    public init(leases: Int, streams: Int) {
        self.leases = leases
        self.streams = streams
    }
}

extension LeaseBroker {
    /// The leases this broker has out on draining sandboxes, by pool; a pool with none is
    /// left out.
    public func drainHolds() -> [PoolID: DrainHold] {
        var holds: [PoolID: DrainHold] = [:]
        for record in leases.values {
            guard let sandbox = sandboxes[record.lease.sandbox], sandbox.state == .draining else { continue }
            holds[sandbox.pool, default: DrainHold(leases: 0, streams: 0)].leases += 1
            if record.life.carries == .stream { holds[sandbox.pool]?.streams += 1 }
        }
        return holds
    }
}

extension LeaseBroker {
    /// The sandboxes of `pool` that drain and still hold leases here.
    func undrained(pool: PoolID) -> Set<SandboxID> {
        Set(sandboxes.inPool(pool).filter { $0.life.isDraining && !$0.leases.isEmpty }.map(\.id))
    }
}
