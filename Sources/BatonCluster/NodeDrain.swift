import BatonCore
import BatonJSON

/// What one node says of the drains under way, under `drain/<node>` on its lease
/// (docs/cluster.md, "Cutover and drain"): the revision of the leader's state it has copied,
/// and what it still carries on each draining pool. A pool left out carries nothing there.
public struct NodeDrain: Sendable, Hashable {
    public var node: String
    /// Every pool's hold was counted after the node applied the leader's state up to here.
    public var revision: Int64
    public var holds: [PoolID: DrainHold]

    public init(node: String, revision: Int64, holds: [PoolID: DrainHold]) {
        self.node = node
        self.revision = revision
        self.holds = holds
    }

    package var json: JSON {
        let pools = holds.sorted { $0.key < $1.key }.map { pool, hold -> (String, JSON) in
            (pool.rawValue, ["leases": .int(Int64(hold.leases)), "streams": .int(Int64(hold.streams))])
        }
        return ["node": .string(node), "revision": .int(revision), "pools": .object(JSONObject(pools))]
    }

    package init(_ json: JSON) throws(StoredRecordJSON.Unreadable) {
        guard let node = json["node"]?.stringValue, let revision = json["revision"]?.intValue,
            let pools = json["pools"]?.objectValue
        else {
            throw StoredRecordJSON.Unreadable(description: "a drain record without node, revision or pools: \(json)")
        }
        var holds: [PoolID: DrainHold] = [:]
        for (pool, hold) in pools {
            guard let leases = hold["leases"]?.intValue, let streams = hold["streams"]?.intValue else {
                throw StoredRecordJSON.Unreadable(description: "a drain hold without leases or streams: \(hold)")
            }
            holds[PoolID(rawValue: pool)] = DrainHold(leases: Int(leases), streams: Int(streams))
        }
        self.init(node: node, revision: revision, holds: holds)
    }
}
