import BatonJSON
import Testing

/// Every applicable example from the JSON-RPC 2.0 specification, sent over the socket
/// after a hello. Batch responses may come in any order, so they are compared as sets.
@Suite("JSON-RPC 2.0 specification examples")
struct JSONRPCSpecExampleTests {
    private func withSession(_ body: (LineClient) async throws -> Void) async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            try await body(client)
        }
    }

    /// Asserts the host sent nothing for what came before: the next line answers a ping.
    private func expectNoReplyBeforePing(_ client: LineClient) async throws {
        let reply = try await client.exchange(#"{"jsonrpc":"2.0","method":"host.ping","id":"after"}"#)
        #expect(reply == ["jsonrpc": "2.0", "result": [:], "id": "after"])
    }

    private func unordered(_ json: JSON) -> Set<JSON> { Set(json.arrayValue ?? []) }

    @Test func positionalParams() async throws {
        try await withSession { client in
            let reply1 = try await client.exchange(
                #"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#
            )
            #expect(reply1 == ["jsonrpc": "2.0", "result": 19, "id": 1])
            let reply2 = try await client.exchange(
                #"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#
            )
            #expect(reply2 == ["jsonrpc": "2.0", "result": -19, "id": 2])
        }
    }

    @Test func namedParams() async throws {
        try await withSession { client in
            let reply3 = try await client.exchange(
                #"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#
            )
            #expect(reply3 == ["jsonrpc": "2.0", "result": 19, "id": 3])
            let reply4 = try await client.exchange(
                #"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#
            )
            #expect(reply4 == ["jsonrpc": "2.0", "result": 19, "id": 4])
        }
    }

    @Test func notificationsAreNeverAnswered() async throws {
        try await withSession { client in
            try await client.sendLine(#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#)
            try await client.sendLine(#"{"jsonrpc": "2.0", "method": "foobar"}"#)
            try await client.sendLine(#"{"jsonrpc": "2.0", "method": "subtract", "params": ["bad"]}"#)
            try await expectNoReplyBeforePing(client)
        }
    }

    @Test func nonExistentMethod() async throws {
        try await withSession { client in
            let reply = try await client.exchange(#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#)
            #expect(reply["error"]?["code"] == -32601)
            #expect(reply["id"] == "1")
        }
    }

    @Test func invalidJSON() async throws {
        try await withSession { client in
            let reply = try await client.exchange(#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#)
            #expect(reply["error"]?["code"] == -32700)
            #expect(reply["id"] == .null)
        }
    }

    @Test func invalidRequestObject() async throws {
        try await withSession { client in
            let reply = try await client.exchange(#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#)
            #expect(reply["error"]?["code"] == -32600)
            #expect(reply["id"] == .null)
        }
    }

    @Test func batchWithInvalidJSON() async throws {
        try await withSession { client in
            let reply = try await client.exchange(
                #"[ {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method" ]"#
            )
            #expect(reply["error"]?["code"] == -32700)
            #expect(reply["id"] == .null)
        }
    }

    @Test func emptyBatch() async throws {
        try await withSession { client in
            let reply = try await client.exchange("[]")
            #expect(reply["error"]?["code"] == -32600)
            #expect(reply["id"] == .null)
        }
    }

    @Test func invalidBatchOfOne() async throws {
        try await withSession { client in
            let reply = try await client.exchange("[1]")
            let elements = try #require(reply.arrayValue)
            #expect(elements.count == 1)
            #expect(elements[0]["error"]?["code"] == -32600)
            #expect(elements[0]["id"] == .null)
        }
    }

    @Test func invalidBatchOfThree() async throws {
        try await withSession { client in
            let reply = try await client.exchange("[1,2,3]")
            let elements = try #require(reply.arrayValue)
            #expect(elements.count == 3)
            for element in elements {
                #expect(element["error"]?["code"] == -32600)
                #expect(element["id"] == .null)
            }
        }
    }

    @Test func mixedBatch() async throws {
        try await withSession { client in
            let reply = try await client.exchange(
                #"""
                [{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}, {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"}, {"foo": "boo"}, {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"}, {"jsonrpc": "2.0", "method": "get_data", "id": "9"}]
                """#
            )
            let elements = try #require(reply.arrayValue)
            #expect(elements.count == 5)
            let byID = Dictionary(elements.map { ($0["id"]!, $0) }, uniquingKeysWith: { first, _ in first })
            #expect(byID["1"]?["result"] == 7)
            #expect(byID["2"]?["result"] == 19)
            #expect(byID[.null]?["error"]?["code"] == -32600)
            #expect(byID["5"]?["error"]?["code"] == -32601)
            #expect(byID["9"]?["result"] == ["hello", 5])
        }
    }

    @Test func batchOfNotificationsOnlyGetsNoReply() async throws {
        try await withSession { client in
            try await client.sendLine(
                #"[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]"#
            )
            try await expectNoReplyBeforePing(client)
        }
    }

    @Test func idsAreEchoedExactly() async throws {
        try await withSession { client in
            for id in [#""abc""#, #""""#, "0", "-7", "9223372036854775807", "2.5", "null", #""\u00e9\n""#] {
                let request = #"{"jsonrpc":"2.0","method":"host.ping","id":\#(id)}"#
                let reply = try await client.exchange(request)
                #expect(reply["id"] == (try JSON.parse(id, options: .init(allowScalarRoot: true))))
            }
        }
    }
}
