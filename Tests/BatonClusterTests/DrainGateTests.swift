import BatonCore
import Testing

@testable import BatonCluster

/// The leader's wait for the other nodes' part of a drain: only a record counted after the
/// node copied the drain's change says it is done, a node that leaves stops counting, and a
/// later drain of the pool replaces the earlier one.
@Suite("Drain gate")
struct DrainGateTests {
    private let drain = ClusterDrain(pool: "p-1", cut: 1)

    private func record(_ node: String, at revision: Int64, leases: Int = 0, streams: Int = 0) -> NodeDrain {
        NodeDrain(
            node: node,
            revision: revision,
            holds: leases > 0 ? ["p-1": DrainHold(leases: leases, streams: streams)] : [:]
        )
    }

    @Test func aNodeIsDoneOnlyWithARecordCountedAfterItCopiedTheDrain() {
        var gate = DrainGate()
        gate.begin(drain, committedAt: 10)
        #expect(gate.done(among: ["b"]) == [], "b has said nothing")
        gate.records["k-b"] = record("b", at: 9)
        #expect(gate.done(among: ["b"]) == [], "counted before b copied the cutover: it may still lease the pool")
        gate.records["k-b"] = record("b", at: 10, leases: 2, streams: 1)
        #expect(gate.done(among: ["b"]) == [])
        #expect(gate.streaming(among: ["b"]) == ["p-1"])
        gate.records["k-b"] = record("b", at: 11)
        #expect(gate.done(among: ["b"]) == [drain])
        #expect(gate.done(among: ["b"]) == [], "told once")
    }

    @Test func everyLiveNodeMustBeDoneAndANodeThatLeavesStopsCounting() {
        var gate = DrainGate()
        gate.begin(drain, committedAt: 10)
        gate.records["k-b"] = record("b", at: 12)
        gate.records["k-c"] = record("c", at: 12, leases: 1)
        #expect(gate.done(among: ["b", "c"]) == [])
        #expect(gate.done(among: ["b"]) == [drain], "c's lease expired: it left the live nodes")
    }

    @Test func aLaterDrainOfThePoolReplacesTheEarlierOne() {
        var gate = DrainGate()
        gate.begin(drain, committedAt: 10)
        let again = ClusterDrain(pool: "p-1", cut: 2)
        gate.begin(again, committedAt: 20)
        gate.records["k-b"] = record("b", at: 15)
        #expect(gate.done(among: ["b"]) == [], "b's record predates the second cutover")
        gate.records["k-b"] = record("b", at: 20)
        #expect(gate.done(among: ["b"]) == [again])
    }

    @Test func aNodeThatStopsLeadingForgetsItsDrains() {
        var gate = DrainGate()
        gate.begin(drain, committedAt: 10)
        gate.forget()
        gate.records["k-b"] = record("b", at: 12)
        #expect(gate.done(among: ["b"]) == [])
    }

    @Test func aRecordReadsBackAsItWasWritten() throws {
        let written = NodeDrain(node: "web/1", revision: 42, holds: ["p-1": DrainHold(leases: 3, streams: 1)])
        #expect(try NodeDrain(written.json) == written)
    }
}
