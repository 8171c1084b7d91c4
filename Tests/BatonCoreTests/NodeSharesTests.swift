import BatonCore
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

@Suite("A node's share of its pools", .timeLimit(.minutes(1)))
struct LauncherSharesTests {
    @Test func aNodesSchedulersRunItsShareOfEachPoolAsTheNodesChange() async throws {
        let core = await CoreHarness()
        let (_, _, updates) = await core.launcher.subscribeScheduler(name: "fake")
        var pushed = updates.makeAsyncIterator()
        _ = try await core.deploy("shop", "v1", services: [web(5, image: "a", scheduler: "fake")])
        #expect(await pushed.next()?.pools.first?.desired == 5, "a host alone runs the whole count")
        await core.launcher.share(NodeShares(node: "b", nodes: ["a", "b", "c"]))
        #expect(await pushed.next()?.pools.first?.desired == 2)
        await core.launcher.share(NodeShares(node: "b", nodes: ["b", "c"]))
        #expect(await pushed.next()?.pools.first?.desired == 3, "b is first of two now: 3 and 2, b gets 3")
    }
}
