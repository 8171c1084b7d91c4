/// The broker's sandboxes, found by id and by pool: a lease for an app looks only at the
/// sandboxes of its pools, so its cost does not grow with the number of apps.
struct SandboxTable {
    private var records: [SandboxID: LeaseBroker.SandboxRecord] = [:]
    private var idsByPool: [PoolID: Set<SandboxID>] = [:]

    subscript(id: SandboxID) -> LeaseBroker.SandboxRecord? {
        get { records[id] }
        set {
            if let old = records[id], old.pool != newValue?.pool {
                idsByPool[old.pool]?.remove(id)
                if idsByPool[old.pool]?.isEmpty == true { idsByPool[old.pool] = nil }
            }
            if let newValue { idsByPool[newValue.pool, default: []].insert(id) }
            records[id] = newValue
        }
    }

    var values: Dictionary<SandboxID, LeaseBroker.SandboxRecord>.Values { records.values }

    mutating func removeValue(forKey id: SandboxID) {
        self[id] = nil
    }

    /// The sandboxes of `pool`, in id order.
    func inPool(_ pool: PoolID) -> [LeaseBroker.SandboxRecord] {
        (idsByPool[pool] ?? []).sorted().compactMap { records[$0] }
    }

    /// The sandboxes of any of `pools`, in id order.
    func inPools(_ pools: Set<PoolID>) -> [LeaseBroker.SandboxRecord] {
        pools.flatMap { inPool($0) }.sorted { $0.id < $1.id }
    }
}
