import BatonCluster
import Testing

@Suite("Node shares")
struct NodeSharesTests {
    @Test func sharesAddUpToTheCountWhateverTheNodes() {
        for count in 1...7 {
            let nodes = Set((0..<count).map { "node-\($0)" })
            for total in 0...40 {
                let shares = nodes.map { NodeShares.share(of: total, for: $0, among: nodes) }
                #expect(shares.reduce(0, +) == total, "\(total) over \(count) nodes")
                #expect(shares.max()! - shares.min()! <= 1, "no node gets more than one above another")
            }
        }
    }

    @Test func everyNodeComputesTheSameSplitAndAStrangerGetsNothing() {
        let nodes: Set = ["web-2", "web-1", "web-3"]
        #expect(NodeShares.share(of: 5, for: "web-1", among: nodes) == 2)
        #expect(NodeShares.share(of: 5, for: "web-2", among: nodes) == 2)
        #expect(NodeShares.share(of: 5, for: "web-3", among: nodes) == 1)
        #expect(NodeShares.share(of: 5, for: "web-9", among: nodes) == 0)
        #expect(NodeShares.share(of: 5, for: "web-1", among: []) == 0)
    }
}
