/// How a count is split over the live nodes (docs/cluster.md, "Sandboxes, placement and
/// readiness" and "Slots"): sorted by name, node i of k gets ⌊n/k⌋, plus one if i < n mod k.
/// The shares add up to the count, and every node computes the same split from the same set.
public struct NodeShares: Sendable, Hashable {
    /// This node, and the live nodes it shares with (itself among them).
    public var node: String
    public var nodes: Set<String>

    /// A host alone keeps every count whole.
    public static let alone = NodeShares(node: "", nodes: [""])

    public init(node: String, nodes: Set<String>) {
        self.node = node
        self.nodes = nodes
    }

    /// This node's share of `total`.
    public func share(of total: Int) -> Int {
        Self.share(of: total, for: node, among: nodes)
    }

    /// This node's share of `item`'s `total` (a sandbox's slots): which nodes get the one slot
    /// more turns with the item, the same on every node, so that across many items the
    /// remainders spread over the nodes instead of always going to the first.
    public func share(of total: Int, in item: String) -> Int {
        guard total > 0, !nodes.isEmpty else { return 0 }
        let sorted = nodes.sorted()
        guard let index = sorted.firstIndex(of: node) else { return 0 }
        let turned = (index + Int(Self.stableHash(item) % UInt64(sorted.count))) % sorted.count
        return total / sorted.count + (turned < total % sorted.count ? 1 : 0)
    }

    /// FNV-1a: the same on every node and every run, as Swift's seeded `Hasher` is not.
    static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    /// `node`'s share of `total` among `nodes`; 0 for a node not among them.
    public static func share(of total: Int, for node: String, among nodes: Set<String>) -> Int {
        guard total > 0, let index = nodes.sorted().firstIndex(of: node) else { return 0 }
        return total / nodes.count + (index < total % nodes.count ? 1 : 0)
    }
}
