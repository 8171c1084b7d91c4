/// A deployment's drain of the pools it cut away from: each pool is held until its last
/// holder has nothing left to finish (each of its sandboxes here, and in a cluster the other
/// nodes, docs/cluster.md "Cutover and drain"), or until the request drain timeout, or, for
/// pools whose sandboxes carry streams, until the stream drain deadline. The transitions are
/// pure and return what the launcher must do.
///
/// | phase \ event | a holder drained | request deadline | stream deadline | a pool serves again |
/// |---|---|---|---|---|
/// | requests | its pool released once all its holders drained; over when no pool is held | pools with streams kept (streams), the others released | – | let go of, unreleased |
/// | streams | as in requests | – | every pool released; over | let go of, unreleased |
/// | over | – | – | – | – |
struct DrainLifecycle: Equatable {
    enum Phase: Equatable {
        case requests
        case streams
        case over
    }

    enum Action: Equatable {
        /// Scale the pool down: its drain is over.
        case release(pool: PoolID, ScaleDownReason)
        /// Wake at the stream drain deadline.
        case waitForStreams
        /// The drain, and with it the deployment, is done.
        case finish
    }

    /// What still carries something on a pool.
    enum Holder: Hashable {
        case sandbox(SandboxID)
        /// The cluster's other live nodes, until each says it has copied the cutover and has
        /// nothing left on the pool.
        case otherNodes
    }

    private(set) var phase = Phase.requests
    /// Pools still held, with what holds them.
    private(set) var holding: [PoolID: Set<Holder>]

    /// A drain of the pools in `holding`, by the sandboxes here that carry something, and of
    /// those in `elsewhere` by the other nodes too; a pool in neither is not held.
    init(holding: [PoolID: Set<SandboxID>], elsewhere: Set<PoolID> = []) {
        var holders = holding.filter { !$0.value.isEmpty }.mapValues { Set($0.map(Holder.sandbox)) }
        for pool in elsewhere { holders[pool, default: []].insert(.otherNodes) }
        self.holding = holders
    }

    func holds(_ pool: PoolID) -> Bool { phase != .over && holding[pool] != nil }

    /// Starts the drain: with nothing to wait for it is over at once.
    mutating func begin() -> [Action] {
        finishIfEmpty()
    }

    mutating func sandboxDrained(_ sandbox: SandboxID, of pool: PoolID) -> [Action] {
        drained(.sandbox(sandbox), of: pool)
    }

    /// Every other live node has copied the cutover and has nothing left on `pool`.
    mutating func drainedElsewhere(_ pool: PoolID) -> [Action] {
        drained(.otherNodes, of: pool)
    }

    private mutating func drained(_ holder: Holder, of pool: PoolID) -> [Action] {
        guard phase != .over, holding[pool]?.remove(holder) != nil, holding[pool]?.isEmpty == true else { return [] }
        holding.removeValue(forKey: pool)
        return [.release(pool: pool, .drained)] + finishIfEmpty()
    }

    /// The request drain timeout passed: pools whose sandboxes carry streams wait on.
    mutating func requestDeadlinePassed(streaming: Set<PoolID>) -> [Action] {
        guard phase == .requests else { return [] }
        let released = holding.keys.filter { !streaming.contains($0) }.sorted()
        for pool in released { holding.removeValue(forKey: pool) }
        let actions = released.map { Action.release(pool: $0, .drainTimeout) }
        if holding.isEmpty { return actions + finishIfEmpty() }
        phase = .streams
        return actions + [.waitForStreams]
    }

    mutating func streamDeadlinePassed() -> [Action] {
        guard phase == .streams else { return [] }
        let released = holding.keys.sorted()
        holding = [:]
        return released.map { Action.release(pool: $0, .streamDrainDeadline) } + finishIfEmpty()
    }

    /// A later deploy took the pool back and it serves again: it is no longer drained.
    mutating func poolServesAgain(_ pool: PoolID) -> [Action] {
        guard phase != .over, holding.removeValue(forKey: pool) != nil else { return [] }
        return finishIfEmpty()
    }

    private mutating func finishIfEmpty() -> [Action] {
        guard phase != .over, holding.isEmpty else { return [] }
        phase = .over
        return [.finish]
    }
}
