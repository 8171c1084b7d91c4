import Testing

/// `baton demo --rollovers 3`, the README's first command, as a user runs it.
@Suite("Demo", .timeLimit(.minutes(2)))
struct DemoTests {
    @Test func threeRolloversUnderLoadShowClientsNoError() async throws {
        let run = try await BatonProcess.run([
            "demo", "--rollovers", "3", "--http", "127.0.0.1:0", "--app-directory", BatonProcess.repositoryPath("examples/hello"),
        ])
        #expect(run.status == .exited(0), "stdout: \(run.stdout)\nstderr: \(run.stderr)")
        #expect(run.stdout.contains("Summary of 3 rollovers"))
        #expect(run.stdout.contains("errors: 0"))
        #expect(run.stdout.contains("POSTs executed exactly once"))
        #expect(run.stdout.contains("event stream opened before the first rollover: still open"))
        #expect(run.stdout.contains("No client saw an error."))
        for version in ["v2", "v3", "v4"] { #expect(run.stdout.contains("traffic now goes to \(version)")) }
    }
}
