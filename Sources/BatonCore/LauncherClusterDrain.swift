/// A drain of `pool` that the cluster's other live nodes must finish too (docs/cluster.md,
/// "Cutover and drain"); `cut` tells this drain from an earlier one of the same pool.
public struct ClusterDrain: Sendable, Hashable {
    public var pool: PoolID
    public var cut: Int

    public init(pool: PoolID, cut: Int) {
        self.pool = pool
        self.cut = cut
    }
}

/// What a leading launcher knows of the drains its cluster's other nodes take part in.
struct ElsewhereDrains {
    /// Each pool's latest drain; an answer for an earlier one is stale.
    var cuts: [PoolID: Int] = [:]
    var lastCut = 0
    /// Drains begun since the last commit, told once their changes are queued for the store.
    var untold: [ClusterDrain] = []
    /// Pools whose sandboxes carry streams on another node.
    var streaming: Set<PoolID> = []

    /// Forgets every drain, as a launcher that stops leading does; the numbering goes on, so
    /// that a late answer for a drain of an earlier lead matches none of a later one.
    mutating func forget() {
        self = ElsewhereDrains(lastCut: lastCut)
    }
}

/// The leader's side of a drain across nodes: a pool cut away or stopped is released only
/// once every other live node is done with it, or at the drain's deadlines.
extension Launcher {
    /// Whether drains wait for other nodes: this node leads a cluster with more than itself.
    var drainsElsewhere: Bool { shares.nodes.count > 1 }

    /// Begins the other nodes' part of `pool`'s drain; false when no other node takes part.
    func beginDrainElsewhere(of pool: PoolID) -> Bool {
        guard drainsElsewhere else { return false }
        elsewhere.lastCut += 1
        elsewhere.cuts[pool] = elsewhere.lastCut
        elsewhere.untold.append(ClusterDrain(pool: pool, cut: elsewhere.lastCut))
        return true
    }

    /// Tells the cluster of the drains begun, after their changes are queued: what it waits
    /// for is every node's copy of them.
    func tellDrainsElsewhere() {
        for drain in elsewhere.untold { drainsBegunContinuation.yield(drain) }
        elsewhere.untold = []
    }

    /// Every other live node has copied `drain`'s cutover (or stop) and has nothing left on
    /// its pool; an answer for an earlier drain of the pool changes nothing.
    public func drainedElsewhere(_ drain: ClusterDrain) async {
        guard role == .leading, elsewhere.cuts[drain.pool] == drain.cut else { return }
        elsewhere.cuts[drain.pool] = nil
        defer { commit() }
        let pool = drain.pool
        guard let app = pools[pool]?.app else { return }
        if let id = apps[app]?.deployments.first(where: { deployments[$0]?.life.holds(pool) == true }) {
            await step(id) { $0.drain { $0.drainedElsewhere(pool) } }
        } else {
            await step(stopOf: pool) { $0.drain { $0.drainedElsewhere(pool) } }
        }
    }

    /// The pools whose sandboxes carry streams on another node: past the request drain
    /// timeout they are kept until the stream drain deadline, as streams here keep them.
    public func streamsElsewhere(_ pools: Set<PoolID>) {
        elsewhere.streaming = pools
    }

    /// Whether `pool`'s sandboxes carry a stream, here or on another node.
    func holdsStreams(_ pool: PoolID) async -> Bool {
        guard !elsewhere.streaming.contains(pool) else { return true }
        return await broker.holdsStreams(pool: pool)
    }
}
