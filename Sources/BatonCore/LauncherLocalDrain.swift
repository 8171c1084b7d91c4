/// A follower that copies a pool at 0 while its own requests still run on that pool's
/// sandboxes here (it was cut off from etcd, so the leader stopped waiting for it): its
/// schedulers keep the sandboxes at the pool's earlier count until those requests end, or
/// for the drain timeout of the app's last deploy, instead of stopping them under the
/// requests. Only its own sandboxes: those of other nodes are theirs to stop.
extension Launcher {
    struct LocalDrain {
        /// The pool's count before the copy that took it to 0.
        var count: Int
        var timer: Task<Void, Never>?
    }

    /// Holds `pool`, copied at 0 from `count`, while this node's leases on it last.
    func holdLocally(_ pool: PoolID, at count: Int) async {
        guard localDrains[pool] == nil, !(await broker.undrained(pool: pool)).isEmpty else { return }
        localDrains[pool] = LocalDrain(count: count)
        let app = pools[pool]?.app
        let last = deployments.values.filter { $0.request.app == app }.max { Self.creationOrder($0.id, $1.id) }
        // Owned by the hold: cancelled when the hold ends first.
        localDrains[pool]?.timer = alarm(after: last?.request.drainTimeout ?? streamDrain) {
            await $0.endLocalDrain(of: pool)
        }
        logger.info("keeps a pool copied at 0 until its own requests on it end", metadata: ["pool": "\(pool)"])
    }

    /// Ends the hold of a pool whose sandboxes here carry nothing any more.
    func endLocalDrain(after signal: BrokerSignal) async {
        let pool: PoolID
        switch signal {
        case .drained(let id, _), .stopped(let id, _, _), .failed(let id, _, _, _): pool = id
        case .admitted: return
        }
        guard localDrains[pool] != nil, (await broker.undrained(pool: pool)).isEmpty else { return }
        await endLocalDrain(of: pool)
    }

    /// The hold of `pool` ends: its schedulers hear its count as stored, and a pool still at
    /// 0 is retired, as the copy would have done.
    func endLocalDrain(of pool: PoolID) async {
        guard let drain = localDrains.removeValue(forKey: pool) else { return }
        drain.timer?.cancel()
        guard let record = pools[pool] else { return }
        schedulers.publish([desiredPool(record)])
        if record.desired == 0, stops[pool] == nil { await broker.retire(pool: pool) }
    }

    /// `pool` as its schedulers must run it now: at its earlier count while it is held here.
    func publishedPool(_ pool: PoolRecord) -> DesiredPool {
        var published = desiredPool(pool)
        if let drain = localDrains[pool.id] { published.desired = shares.share(of: drain.count) }
        return published
    }
}
