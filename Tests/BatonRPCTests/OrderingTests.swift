import BatonJSON
import BatonRPC
import Testing

/// A session's calls take effect in the order they were sent, whatever the answers'
/// order, and `rpc.maxInFlight` bounds the calls running at once, exactly.
@Suite("Call order and the in-flight limit")
struct OrderingTests {
    private static func key(_ name: String) -> String { "\(name)-\(UInt64.random(in: 0 ... .max))" }

    @Test func pipelinedCallsTakeEffectInTheOrderTheyWereSent() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            let key = Self.key("order")
            let count = 2_000
            var lines = ""
            for n in 0..<count {
                // Half are notifications: they get no answer, and still keep their place.
                let id = n.isMultiple(of: 2) ? #","id":\#(n)"# : ""
                lines += #"{"jsonrpc":"2.0","method":"test.append","params":{"key":"\#(key)","n":\#(n)}\#(id)}"# + "\n"
            }
            try await client.send(lines)
            let journal = try await client.exchange(
                #"{"jsonrpc":"2.0","method":"test.journal","params":{"key":"\#(key)"},"id":"j"}"#
            )
            // Answers to the appends may come first; the journal's answer is the last line.
            var reply = journal
            while reply["id"] != "j" { reply = try await client.nextJSON() }
            let applied = try #require(reply["result"]?.arrayValue).compactMap(\.intValue)
            #expect(applied.count == count)
            #expect(applied.indices.first { applied[$0] != Int64($0) } == nil, "the first call applied out of order")
        }
    }

    @Test func aSubscriptionsNotificationsComeAfterTheAnswerThatNamesIt() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            let opener = try await LineClient.connect(path)
            defer {
                Task {
                    await client.close()
                    await opener.close()
                }
            }
            try await client.hello()
            try await opener.hello()
            let key = Self.key("subscribe")
            // In a batch the answer waits for the batch's last element, held here until opened.
            try await client.sendLine(
                #"[{"jsonrpc":"2.0","method":"test.subscribe","id":1},"#
                    + #"{"jsonrpc":"2.0","method":"test.wait","params":{"key":"\#(key)"},"id":2}]"#
            )
            _ = try await opener.exchange(
                #"{"jsonrpc":"2.0","method":"test.open","params":{"key":"\#(key)"},"id":"open"}"#
            )
            let first = try await client.nextJSON()
            #expect(first.arrayValue?.count == 2, "the batch's answer comes first, not \(first)")
            #expect(try await client.nextJSON()["method"] == "test.tick")
        }
    }

    @Test func aWaitingCallDoesNotHoldBackTheCallsBehindIt() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            let key = Self.key("behind")
            try await client.sendLine(
                #"{"jsonrpc":"2.0","method":"test.wait","params":{"key":"\#(key)"},"id":"waits"}"#
            )
            try await client.sendLine(
                #"{"jsonrpc":"2.0","method":"test.append","params":{"key":"\#(key)","n":1},"id":"after"}"#
            )
            #expect(try await client.nextJSON()["id"] == "after")
            try await client.sendLine(#"{"jsonrpc":"2.0","method":"test.open","params":{"key":"\#(key)"},"id":"open"}"#)
            let answers = Set([try await client.nextJSON()["id"], try await client.nextJSON()["id"]])
            #expect(answers == ["waits", "open"])
        }
    }

    @Test func theInFlightLimitCountsLinesThatOneReadBroughtIn() async throws {
        try await withServer(configure: { $0.maxInFlight = 4 }) { _, path in
            let client = try await LineClient.connect(path)
            let watcher = try await LineClient.connect(path)
            defer {
                Task {
                    await client.close()
                    await watcher.close()
                }
            }
            try await client.hello()
            try await watcher.hello()
            let key = Self.key("limit")
            let count = 200
            var lines = ""
            for n in 0..<count {
                lines += #"{"jsonrpc":"2.0","method":"test.hold","params":{"key":"\#(key)"},"id":\#(n)}"# + "\n"
            }
            try await client.send(lines)  // one write: the host reads many lines at once
            let most = try await watcher.exchange(
                #"{"jsonrpc":"2.0","method":"test.held","params":{"key":"\#(key)","atLeast":4},"id":"held"}"#
            )
            #expect(most["result"] == 4)
            _ = try await watcher.exchange(
                #"{"jsonrpc":"2.0","method":"test.open","params":{"key":"\#(key)"},"id":"open"}"#
            )
            var answered = Set<JSON>()
            for _ in 0..<count { answered.insert(try await client.nextJSON()["id"] ?? .null) }
            #expect(answered.count == count)
            let after = try await watcher.exchange(
                #"{"jsonrpc":"2.0","method":"test.held","params":{"key":"\#(key)","atLeast":0},"id":"after"}"#
            )
            #expect(after["result"] == 4)
        }
    }
}
