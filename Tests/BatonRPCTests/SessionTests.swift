import BatonJSON
import BatonRPC
import Glibc
import Testing

/// The handshake, roles and access rules.
@Suite("Sessions, roles and access")
struct SessionTests {
    @Test func helloAnswersWithSessionHostAndLimits() async throws {
        try await withServer(configure: { $0.maxInFlight = 7 }) { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            let reply = try await client.hello(role: "router")
            let result = try #require(reply["result"])
            #expect(result["protocol"] == "baton/1")
            #expect(result["role"] == "router")
            #expect(result["session"]?.stringValue?.hasPrefix("s-") == true)
            #expect(result["host"] == ["name": "baton-test", "version": "0"])
            #expect(result["limits"]?["maxInFlight"] == 7)
            #expect(result["limits"]?["maxLineBytes"] == 1_048_576)
        }
    }

    @Test func methodsBeforeHelloAreRefused() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            let reply = try await client.exchange(#"{"jsonrpc":"2.0","method":"host.ping","id":1}"#)
            #expect(reply["error"]?["code"] == -32002)
            #expect(reply["id"] == 1)
            try await client.hello()
        }
    }

    @Test func aSecondHelloIsRefused() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            #expect(try await client.exchange(helloLine(role: "scheduler", id: 9))["error"]?["code"] == -32003)
        }
    }

    @Test func anUnsupportedProtocolIsRefusedWithTheSupportedOnes() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            let reply = try await client.exchange(
                #"{"jsonrpc":"2.0","id":1,"method":"host.hello","params":{"protocol":"baton/9","role":"admin","client":{"name":"t","version":"1"}}}"#
            )
            #expect(reply["error"]?["code"] == -32004)
            #expect(reply["error"]?["data"]?["supported"] == ["baton/1.2"])
            try await client.hello()
        }
    }

    @Test(arguments: [
        ("baton/1", "baton/1"), ("baton/1.0", "baton/1"), ("baton/1.1", "baton/1.1"), ("baton/1.2", "baton/1.2"),
        ("baton/1.7", "baton/1.2"),
    ])
    func helloAgreesOnTheNewerMinorVersionBothSpeak(_ asked: String, _ agreed: String) async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            let reply = try await client.exchange(
                #"{"jsonrpc":"2.0","id":1,"method":"host.hello","params":{"protocol":"\#(asked)","role":"admin","client":{"name":"t","version":"1"}}}"#
            )
            #expect(reply["result"]?["protocol"]?.stringValue == agreed)
        }
    }

    @Test func aVersionHasOneSpelling() {
        for text in [
            "baton/01", "baton/1.01", "baton/1.", "baton/.1", "baton/1.1.1", "baton/+1", "baton/1 ", "Baton/1",
        ] {
            #expect(ProtocolVersion(text) == nil, "\(text)")
        }
        #expect(ProtocolVersion("baton/2.10") == ProtocolVersion(major: 2, minor: 10))
    }

    @Test func malformedHelloParamsAreInvalidParams() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            for params in [
                #"[1]"#, #"{"protocol":"baton/1","role":"king","client":{"name":"t","version":"1"}}"#,
                #"{"protocol":"baton/1","role":"admin"}"#,
            ] {
                let reply = try await client.exchange(
                    #"{"jsonrpc":"2.0","id":1,"method":"host.hello","params":\#(params)}"#
                )
                #expect(reply["error"]?["code"] == -32602, "params \(params)")
            }
        }
    }

    @Test func aMethodOutsideTheRoleIsRefused() async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello(role: "router")
            let reply = try await client.exchange(#"{"jsonrpc":"2.0","method":"test.schedulerOnly","id":1}"#)
            #expect(reply["error"]?["code"] == -32005)
            #expect(reply["error"]?["message"]?.stringValue?.contains("scheduler") == true)
        }
    }

    @Test(arguments: ["scheduler", "router", "admin"])
    func pingWorksInEveryRole(role: String) async throws {
        try await withServer { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello(role: role)
            #expect(try await client.exchange(#"{"jsonrpc":"2.0","method":"host.ping","id":1}"#)["result"] == [:])
        }
    }

    @Test func aRoleWithATokenNeedsIt() async throws {
        try await withServer(configure: { $0.roleTokens[.scheduler] = "s3cret" }) { _, path in
            let withToken = try await LineClient.connect(path)
            defer { Task { await withToken.close() } }
            #expect(try await withToken.hello(role: "scheduler", token: "s3cret")["result"] != nil)

            let admin = try await LineClient.connect(path)
            defer { Task { await admin.close() } }
            #expect(try await admin.hello(role: "admin")["result"] != nil)

            let wrong = try await LineClient.connect(path)
            defer { Task { await wrong.close() } }
            #expect(try await wrong.hello(role: "scheduler", token: "guess")["error"]?["code"] == -32001)
            try await wrong.waitUntilClosed()

            let missing = try await LineClient.connect(path)
            defer { Task { await missing.close() } }
            #expect(try await missing.hello(role: "scheduler")["error"]?["code"] == -32001)
            try await missing.waitUntilClosed()
        }
    }

    @Test func aPeerWhoseUIDIsNotAllowedGetsAnErrorAndIsDisconnected() async throws {
        try await withServer(configure: { $0.allowedUIDs = [] }) { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            let reply = try await client.nextJSON()
            #expect(reply["error"]?["code"] == -32001)
            #expect(reply["error"]?["message"]?.stringValue?.contains("uid \(getuid())") == true)
            try await client.waitUntilClosed()
        }
    }

    @Test func connectionsOverTheLimitAreRefused() async throws {
        try await withServer(configure: { $0.maxConnections = 2 }) { _, path in
            let first = try await LineClient.connect(path)
            let second = try await LineClient.connect(path)
            defer {
                Task {
                    await first.close()
                    await second.close()
                }
            }
            try await first.hello()
            try await second.hello()
            let third = try await LineClient.connect(path)
            defer { Task { await third.close() } }
            let reply = try await third.nextJSON()
            #expect(reply["error"]?["code"] == -32008)
            #expect(reply["error"]?["message"]?.stringValue?.contains("rpc.maxConnections") == true)
            try await third.waitUntilClosed()

            // Once a connection is gone its place is free again. The host frees it as it
            // closes its end, which can be a moment after this client sees the close.
            try await first.shutdownWrites()
            try await first.waitUntilClosed()
            var admitted = false
            for _ in 0..<50 where !admitted {
                let next = try await LineClient.connect(path)
                // A refused connection may be closed before the hello is even written.
                admitted = (try? await next.hello())?["result"] != nil
                await next.close()
            }
            #expect(admitted)
        }
    }

    @Test func aBatchLargerThanTheInFlightLimitIsRefusedAndSmallerOnesPass() async throws {
        try await withServer(configure: { $0.maxInFlight = 4 }) { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            let element = #"{"jsonrpc":"2.0","method":"test.async","params":{"n":1},"id":1}"#
            let tooMany = try await client.exchange(
                "[" + Array(repeating: element, count: 5).joined(separator: ",") + "]"
            )
            #expect(tooMany["error"]?["code"] == -32008)
            #expect(tooMany["error"]?["message"]?.stringValue?.contains("rpc.maxInFlight") == true)
            let fits = try await client.exchange("[" + Array(repeating: element, count: 4).joined(separator: ",") + "]")
            #expect(fits.arrayValue?.count == 4)
        }
    }

    @Test func requestsBeyondTheInFlightLimitWaitAndAreAllAnswered() async throws {
        try await withServer(configure: { $0.maxInFlight = 2 }) { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            try await client.hello()
            var lines = ""
            for id in 0..<20 {
                lines += #"{"jsonrpc":"2.0","method":"test.async","params":{"n":5},"id":\#(id)}"# + "\n"
            }
            try await client.send(lines)
            var ids = Set<JSON>()
            for _ in 0..<20 {
                let reply = try await client.nextJSON()
                #expect(reply["result"] == 5)
                ids.insert(reply["id"] ?? .null)
            }
            #expect(ids == Set((0..<20).map { JSON.int(Int64($0)) }))
        }
    }

    @Test func noHelloInTimeClosesTheConnection() async throws {
        try await withServer(configure: { $0.helloTimeout = .milliseconds(100) }) { _, path in
            let client = try await LineClient.connect(path)
            defer { Task { await client.close() } }
            let reply = try await client.nextJSON()
            #expect(reply["error"]?["code"] == -32002)
            #expect(reply["error"]?["message"]?.stringValue?.contains("rpc.helloTimeoutMs") == true)
            try await client.waitUntilClosed()
        }
    }

    @Test func socketIsOwnerOnlyInsideAPrivateDirectory() async throws {
        try await withServer { _, path in
            var socketInfo = stat()
            var directoryInfo = stat()
            #expect(lstat(path, &socketInfo) == 0)
            #expect(stat(String(path[..<path.lastIndex(of: "/")!]), &directoryInfo) == 0)
            #expect(socketInfo.st_mode & 0o777 == 0o600)
            #expect(directoryInfo.st_mode & 0o777 == 0o700)
        }
    }

    @Test func theHostCanPushNotificationsToASession() async throws {
        try await withServer { _, path in
            let client = try await RPCClient.connect(socketPath: path)
            defer { Task { await client.close() } }
            try await client.hello(role: .admin, client: RPCProgramInfo(name: "t", version: "1"))
            #expect(try await client.call("test.flood", ["count": 3]) == 3)
            var indexes: [JSON] = []
            for await notification in client.notifications {
                #expect(notification.method == "test.flooded")
                indexes.append(notification.params?["index"] ?? .null)
                if indexes.count == 3 { break }
            }
            #expect(indexes == [0, 1, 2])
        }
    }

    @Test func theClientSurfacesErrorsAsRPCError() async throws {
        try await withServer { _, path in
            let client = try await RPCClient.connect(socketPath: path)
            defer { Task { await client.close() } }
            try await client.hello(role: .router, client: RPCProgramInfo(name: "t", version: "1"))
            await #expect(throws: RPCError.self) { try await client.call("test.schedulerOnly") }
            await #expect(throws: RPCError.self) { try await client.call("missing.method") }
            #expect(try await client.call("host.ping") == [:])
        }
    }

    /// A scheduler that lost its host must not hang on its next call: it reconnects only
    /// once that call has failed.
    @Test(.timeLimit(.minutes(1))) func aCallOnAClosedConnectionFailsAtOnce() async throws {
        try await withServer { _, path in
            let client = try await RPCClient.connect(socketPath: path)
            try await client.hello(role: .admin, client: RPCProgramInfo(name: "t", version: "1"))
            await client.close()
            await #expect(throws: (any Error).self) { try await client.call("host.ping") }
        }
    }
}
