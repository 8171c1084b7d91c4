import BatonCore
import BatonEtcd
import BatonJSON
import BatonProtocol
import BatonRPC
import Logging

/// A node's part in drains across nodes (docs/cluster.md, "Cutover and drain").
extension ClusterNode {
    /// Another node said what it carries on draining pools, or left.
    func drainRecordsChanged(_ changes: [PrefixMirror.Change], _: Int64) async {
        term.withLock { term in
            for change in changes {
                switch change {
                case .put(let kv): term.drains.records[kv.key] = try? NodeDrain(JSON.parse(kv.value))
                case .delete(let key): term.drains.records[key] = nil
                }
            }
        }
        await passDrains()
    }

    /// Says what this node carries on draining pools, counted after the copy it has applied.
    func publishDrain() async {
        let revision = term.withLock { $0.copiedRevision }  // read first: the holds count after it
        let record = NodeDrain(node: configuration.node, revision: revision, holds: await broker.drainHolds())
        drainKey.set(Self.serialized(record.json))
    }

    /// The launcher began a drain the other nodes take part in: it waits for each of them to
    /// have copied the change that began it, so its change must be in etcd first.
    func begun(_ drain: ClusterDrain) async {
        guard let store = term.withLock({ $0.store }), (try? await store.flush()) != nil else { return }
        let revision = store.committedRevision
        let leads = term.withLock { term -> Bool in
            guard term.store === store else { return false }
            term.drains.begin(drain, committedAt: revision)
            return true
        }
        if leads { await passDrains() }
    }

    /// Tells the launcher of every drain the other live nodes are done with, and where streams
    /// keep a pool past its request drain timeout.
    func passDrains() async {
        let (done, streaming) = term.withLock { term in
            let others = Set(term.nodes.keys).subtracting([configuration.node])
            return (term.drains.done(among: others), term.drains.streaming(among: others))
        }
        for drain in done { await launcher.drainedElsewhere(drain) }
        await launcher.streamsElsewhere(streaming)
    }
}
