import Testing

extension ProcessHeavySuites {
    /// `baton demo`, the README's first command, as a user runs it: rollovers under load through
    /// the process scheduler and examples/hello, which exits at once on SIGTERM.
    /// Serialized: two demos at once would share the machine's ports for their sandboxes.
    @Suite("Demo", .serialized, .timeLimit(.minutes(2)))
    struct DemoTests {
        private func demo(_ arguments: [String]) async throws -> (status: Bool, stdout: String) {
            let run = try await BatonProcess.run(
                ["demo", "--http", "127.0.0.1:0", "--app-directory", BatonProcess.repositoryPath("examples/hello")]
                    + arguments
            )
            return (run.status == .exited(0), run.stdout + run.stderr)
        }

        @Test func tenRolloversUnderLoadShowClientsNoError() async throws {
            // Streams held past the 30 s lease TTL: no timeout may cut them.
            let (succeeded, output) = try await demo(["--rollovers", "10", "--stream-seconds", "35"])
            #expect(succeeded, "\(output)")
            #expect(output.contains("Summary of 10 rollovers"))
            #expect(output.contains("errors: 0"), "no non-2xx answer and no socket error")
            #expect(
                output.contains(
                    #/POSTs executed exactly once: (\d+) of \1 answered; across all sandboxes \d+ ran, 0 more than once\n/#
                )
            )
            #expect(output.contains(#/PUT bodies that arrived intact: (\d+) of \1\n/#))
            #expect(output.contains("event stream opened before the first rollover: still open"))
            #expect(output.contains("WebSocket opened before the first rollover: still open"))
            #expect(output.contains("sandboxes of old versions still running at the end: 0"))
            #expect(output.contains("No client saw an error."))
            for version in 2...11 { #expect(output.contains("traffic now goes to v\(version)\n")) }
        }

        /// The load, the event stream and the WebSocket over HTTPS, with a certificate the demo
        /// made: the same promise.
        @Test func rolloversUnderLoadOverHTTPSShowClientsNoError() async throws {
            let (succeeded, output) = try await demo(["--rollovers", "4", "--https", "127.0.0.1:0"])
            #expect(succeeded, "\(output)")
            #expect(output.contains("Sending load over HTTPS"))
            #expect(output.contains("curl --cacert /tmp/baton-demo-"))
            #expect(output.contains("errors: 0"), "no non-2xx answer and no socket error")
            #expect(output.contains("event stream opened before the first rollover: still open"))
            #expect(output.contains("WebSocket opened before the first rollover: still open"))
            #expect(output.contains("No client saw an error."))
            for version in 2...5 { #expect(output.contains("traffic now goes to v\(version)\n")) }
        }

        /// The same scenario without the readiness gate, the drain, retries and holding (the
        /// seed system before its fix) must show errors: the test above can fail.
        @Test func withoutBatonsProtectionTheSameScenarioShowsErrors() async throws {
            let (succeeded, output) = try await demo(["--rollovers", "3", "--unprotected"])
            #expect(!succeeded, "\(output)")
            #expect(!output.contains("errors: 0"), "\(output)")
            #expect(output.contains("Clients saw errors"))
        }
    }
}
