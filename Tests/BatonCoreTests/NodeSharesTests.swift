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

@Suite("A node's share of each sandbox's slots", .timeLimit(.minutes(1)))
struct SlotSharesTests {
    @Test func everySandboxsSlotsAddUpOverTheNodesAndTheRemaindersTakeTurns() {
        let nodes: Set = ["a", "b", "c"]
        var extra: [String: Int] = [:]
        for index in 0..<300 {
            let sandbox = "p-1-\(index)"
            let shares = nodes.map { NodeShares(node: $0, nodes: nodes).share(of: 4, in: sandbox) }
            #expect(shares.reduce(0, +) == 4)
            for node in nodes where NodeShares(node: node, nodes: nodes).share(of: 4, in: sandbox) == 2 {
                extra[node, default: 0] += 1
            }
        }
        #expect(extra.values.allSatisfy { $0 > 50 }, "each node gets the slot more for some sandboxes: \(extra)")
    }

    @Test func aNodeLeasesOnlyItsShareOfASandbox() async throws {
        let core = await CoreHarness()
        var events = core.events()
        let deployment = try await core.deploy("shop", "v1", services: [web(image: "a", slots: 3)])
        try await core.ready("a", pool: try await core.pool(of: deployment))
        await events.next(.deployDone)
        let shares = NodeShares(node: "x", nodes: ["x", "y"])
        await core.broker.share(shares)
        let mine = shares.share(of: 3, in: "a")
        let lease = try await core.broker.acquire(app: "shop", service: "web", slots: 3, minimumSlots: 1)
        #expect(lease.slots == mine, "this node's share of 3 slots, not all 3")
        await #expect(throws: CoreError.self) { try await core.broker.acquire(app: "shop", service: "web") }
        await core.broker.share(.alone)
        #expect(try await core.broker.acquire(app: "shop", service: "web", slots: 3, minimumSlots: 1).slots == 3 - mine)
    }
}
