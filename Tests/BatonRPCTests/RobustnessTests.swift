import BatonJSON
import BatonRPC
import Testing

/// Bad input, heavy input and stuck clients: the host answers what it can, and no
/// connection harms another.
@Suite("Robustness against bad and heavy clients")
struct RobustnessTests {
    @Test func garbageLinesEachGetAnErrorAndTheNextRequestIsAnswered() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            let garbage = [
                "}{", "nul\u{0}l", "[1,", #"{"jsonrpc":"2.0""#, "\u{FEFF}{}", "42", #""text""#, "[[[[", "\u{7F}",
            ]
            for (index, line) in garbage.enumerated() {
                let error = try await client.exchange(line)
                #expect(error["id"] == .null, "line \(line)")
                #expect([-32700, -32600].contains(error["error"]?["code"]?.intValue), "line \(line)")
                let ok = try await client.exchange(#"{"jsonrpc":"2.0","method":"host.ping","id":\#(index)}"#)
                #expect(ok["result"] == [:])
            }
            var invalidUTF8 = Array(#"{"jsonrpc":"2.0","method":"host.ping","id":""#.utf8)
            invalidUTF8 += [0xC3, 0x28, UInt8(ascii: "\""), UInt8(ascii: "}"), UInt8(ascii: "\n")]
            try await client.send(invalidUTF8)
            #expect(try await client.nextJSON()["error"]?["code"] == -32700)
            #expect(try await client.exchange(#"{"jsonrpc":"2.0","method":"host.ping","id":"last"}"#)["id"] == "last")
        }
    }

    @Test func anOversizeLineGetsAnErrorNamingTheLimitAndTheConnectionGoesOn() async throws {
        try await withServer(configure: { $0.maxLineBytes = 1024 }) { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            let huge =
                #"{"jsonrpc":"2.0","method":"host.ping","params":{"pad":""# + String(repeating: "z", count: 100_000)
                + #""},"id":1}"#
            let error = try await client.exchange(huge)
            #expect(error["error"]?["code"] == -32006)
            #expect(error["error"]?["message"]?.stringValue?.contains("1024") == true)
            #expect(error["error"]?["message"]?.stringValue?.contains("rpc.maxLineBytes") == true)
            #expect(error["error"]?["data"]?["limit"] == 1024)
            #expect(try await client.exchange(#"{"jsonrpc":"2.0","method":"host.ping","id":2}"#)["id"] == 2)
        }
    }

    @Test func tenThousandPipelinedRequestsAreAllAnswered() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            let count = 10_000
            var batch = ""
            for id in 0..<count {
                batch +=
                    #"{"jsonrpc":"2.0","method":"\#(id % 2 == 0 ? "host.ping" : "sum")","params":[\#(id),1],"id":\#(id)}"#
                    + "\n"
            }
            try await client.send(batch)
            var seen = Set<Int64>()
            for _ in 0..<count {
                let reply = try await client.nextJSON()
                let id = try #require(reply["id"]?.intValue)
                #expect(reply["error"] == nil)
                seen.insert(id)
            }
            #expect(seen.count == count)
        }
    }

    @Test func slowRequestsAreAnsweredOutOfOrder() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            let key = "out-of-order-\(UInt64.random(in: 0 ... .max))"
            try await client.sendLine(#"{"jsonrpc":"2.0","method":"test.wait","params":{"key":"\#(key)"},"id":"slow"}"#)
            try await client.sendLine(#"{"jsonrpc":"2.0","method":"host.ping","id":"fast"}"#)
            #expect(try await client.nextJSON()["id"] == "fast")
            try await client.sendLine(#"{"jsonrpc":"2.0","method":"test.open","params":{"key":"\#(key)"},"id":"open"}"#)
            let answers = Set([try await client.nextJSON()["id"], try await client.nextJSON()["id"]])
            #expect(answers == ["slow", "open"])
        }
    }

    @Test func aThrowingMethodIsAnInternalError() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            let reply = try await client.exchange(#"{"jsonrpc":"2.0","method":"test.fail","id":1}"#)
            #expect(reply["error"]?["code"] == -32603)
        }
    }

    @Test func aMalformedConnectionDoesNotDisturbAnother() async throws {
        try await withServer { _, path in
            let good = try await LineClient.connect(path)
            let bad = try await LineClient.connect(path)
            defer {
                Task {
                    await good.close()
                    await bad.close()
                }
            }
            try await good.hello()
            try await bad.send(
                [0xFF, 0x00, 0x0A] + Array("{{{{\n".utf8) + Array(repeating: UInt8(ascii: "["), count: 5000) + [0x0A]
            )
            try await good.sendLine(#"{"jsonrpc":"2.0","method":"host.ping","id":"good"}"#)
            #expect(try await good.nextJSON()["id"] == "good")
            for _ in 0..<3 { #expect(try await bad.nextJSON()["error"]?["code"] == -32700) }
        }
    }

    @Test func halfClosedClientStillGetsItsAnswers() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.sendLine(helloLine())
            try await client.sendLine(#"{"jsonrpc":"2.0","method":"test.async","params":{"n":50},"id":"a"}"#)
            try await client.send(#"{"jsonrpc":"2.0","method":"host.ping","id":"b"}"#)
            try await client.shutdownWrites()
            var ids: Set<JSON> = []
            for _ in 0..<3 { ids.insert(try await client.nextJSON()["id"]!) }
            #expect(ids == [0, "a", "b"])
            try await client.waitUntilClosed()
        }
    }

    @Test func aClientThatNeverReadsIsDisconnectedWhenItsQueueOverflows() async throws {
        try await withServer(configure: {
            $0.outboundQueue = 64
            $0.writeStallTimeout = .seconds(60)
        }) { _, path in
            let stuck = try await LineClient.connect(path, reading: false)
            defer { Task { await stuck.close() } }
            try await stuck.sendLine(helloLine())
            try await stuck.sendLine(
                #"{"jsonrpc":"2.0","method":"test.flood","params":{"count":5000,"size":4096},"id":1}"#
            )
            try await stuck.waitUntilClosed()

            let other = try await LineClient.connect(path)
            defer { Task { await other.close() } }
            try await other.hello()
            #expect(try await other.exchange(#"{"jsonrpc":"2.0","method":"host.ping","id":1}"#)["id"] == 1)
        }
    }

    @Test func aClientThatNeverReadsIsDisconnectedWhenItStallsTooLong() async throws {
        try await withServer(configure: {
            $0.outboundQueue = 1_000_000
            $0.writeStallTimeout = .milliseconds(200)
        }) { _, path in
            let stuck = try await LineClient.connect(path, reading: false)
            defer { Task { await stuck.close() } }
            try await stuck.sendLine(helloLine())
            try await stuck.sendLine(
                #"{"jsonrpc":"2.0","method":"test.flood","params":{"count":200,"size":8192},"id":1}"#
            )
            try await stuck.waitUntilClosed()
        }
    }
}
