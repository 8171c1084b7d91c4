import BatonCore

/// The leader's view of its drains across nodes (docs/cluster.md, "Cutover and drain"): a
/// drain is done elsewhere once every other live node has said, counting after it copied the
/// drain's change, that it carries nothing more on the pool. A node that never says so holds
/// the drain until its lease expires and it leaves the live nodes, or until the drain's deadline.
package struct DrainGate {
    /// Each drain begun and not done elsewhere yet, with the revision its change committed at.
    package private(set) var pending: [ClusterDrain: Int64] = [:]
    /// Each node's last record, by its key.
    package var records: [String: NodeDrain] = [:]

    package init() {}

    /// A drain whose change etcd committed at `revision` (or before it).
    package mutating func begin(_ drain: ClusterDrain, committedAt revision: Int64) {
        // A pool drains once at a time: a later drain replaces the one before.
        pending = pending.filter { $0.key.pool != drain.pool }
        pending[drain] = revision
    }

    /// The drains every node in `others` is done with, in the order they began; they are
    /// no longer pending.
    package mutating func done(among others: Set<String>) -> [ClusterDrain] {
        let latest = Dictionary(
            records.values.map { ($0.node, $0) },
            uniquingKeysWith: { $0.revision > $1.revision ? $0 : $1 }
        )
        let done = pending.filter { drain, revision in
            others.allSatisfy { node in
                guard let record = latest[node] else { return false }
                return record.revision >= revision && (record.holds[drain.pool]?.leases ?? 0) == 0
            }
        }.keys.sorted { $0.cut < $1.cut }
        for drain in done { pending[drain] = nil }
        return done
    }

    /// The pools whose sandboxes carry a stream on one of `others`.
    package func streaming(among others: Set<String>) -> Set<PoolID> {
        Set(
            records.values.filter { others.contains($0.node) }.flatMap { $0.holds.filter { $0.value.streams > 0 }.keys }
        )
    }

    /// This node no longer leads: its drains are the next leader's.
    package mutating func forget() {
        pending = [:]
    }
}
