import Testing

@testable import BatonCluster

/// What a node says of itself under `node/<node>`.
@Suite("Node record")
struct NodeRecordTests {
    @Test func aRecordReadsBackAsItWasWrittenWithoutTheAppsThatHaveNothingInFlight() throws {
        let written = NodeRecord(node: "web-1", inFlight: ["shop": 3, "idle": 0])
        let read = try NodeRecord(written.json)
        #expect(read.node == "web-1" && read.version == written.version)
        #expect(read.inFlight == ["shop": 3])
    }
}
