import BatonTestSupport
import Foundation
import Subprocess
import Testing

/// Clients that send too much head, and many that take a connection and never send: each
/// costs only its own connection, and everyone else keeps being served.
extension IngressTests {
    @Test func tooManyHeaderFieldsGet431NamingTheSettingAndReachNoSandbox() async throws {
        let recorder = Recorder()
        let backend = try await recorder.backend()
        defer { Task { await backend.stop() } }
        try await withStage { stage in
            try await stage.live("v1", [backend])
            let fields = (0...100).map { "X-Field-\($0): \($0)\r\n" }.joined()
            let client = try await stage.raw("GET /crowded HTTP/1.1\r\nHost: shop.test\r\n\(fields)\r\n")
            defer { Task { await client.close() } }
            let answer = try await client.read(until: "ingress.maxHeaderFields")
            #expect(answer.hasPrefix("HTTP/1.1 431 "), "\(answer)")
            #expect(try await stage.get("/after").body == "served")
            #expect(recorder.requests.allSatisfy { $0.target == "/after" }, "a refused request reached the sandbox")
        }
    }
}

extension ProcessHeavySuites {
    /// Ten thousand connections take the machine's descriptors and much of its time: the test
    /// takes its turn with the other heavy suites rather than starve the tests beside it.
    @Suite("Ingress crowd", .serialized, .timeLimit(.minutes(2)))
    struct IngressCrowdTests {
        /// Opens `count` connections to `port` and sends nothing on them; prints `open N` once all
        /// are up, then holds them until its stdin closes. A process of its own, so the test's file
        /// descriptors are only the ingress's side.
        private static let idleCrowd = """
            import resource, socket, sys
            port, count = int(sys.argv[1]), int(sys.argv[2])
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
            print("open %d" % len(held), flush=True)
            sys.stdin.read()
            """

        /// The ingress takes a client connection for each; this process needs that many descriptors.
        private func raiseDescriptorLimit(to wanted: rlim_t) -> rlim_t {
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            guard limit.rlim_cur < wanted else { return limit.rlim_cur }
            // Root may raise the hard limit too; anyone may raise the soft one up to it.
            var raised = rlimit(rlim_cur: wanted, rlim_max: max(wanted, limit.rlim_max))
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
                limit.rlim_cur = min(wanted, limit.rlim_max)
                setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            }
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            return limit.rlim_cur
        }

        @Test func tenThousandIdleConnectionsLeaveTheIngressServingEveryoneElse() async throws {
            let crowd = 10_000
            let limit = raiseDescriptorLimit(to: rlim_t(crowd + 2_000))
            try #require(limit >= rlim_t(crowd + 1_000), "this process may hold only \(limit) descriptors")
            let recorder = IngressTests.Recorder()
            let backend = try await recorder.backend()
            defer { Task { await backend.stop() } }
            try await IngressTests().withStage { stage in
                try await stage.live("v1", [backend])
                let port = stage.port
                let result = try await Subprocess.run(
                    .name("python3"),
                    arguments: ["-c", Self.idleCrowd, "\(port)", "\(crowd)"],
                    input: .inputWriter,  // never written: closed when the body ends
                    output: .sequence,
                    error: .discarded
                ) { execution in
                    var lines = execution.standardOutput.strings().makeAsyncIterator()
                    let opened = try await lines.next()
                    #expect(opened == "open \(crowd)\n" || opened == "open \(crowd)")
                    // With every one of them open and silent, a new client is served at once.
                    #expect(try await TestHTTPClient.send(port: port, host: "shop.test").body == "served")
                    try await execution.standardInputWriter.finish()
                }
                #expect(result.terminationStatus == .exited(0))
                #expect(try await stage.get("/after").body == "served")
            }
        }
    }
}
