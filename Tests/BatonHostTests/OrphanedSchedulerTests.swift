import BatonPlugins
import BatonTestSupport
import NIOConcurrencyHelpers
import Testing

/// A host killed while it starts its scheduler must not leave that scheduler running: the
/// scheduler knows its host by `BATON_HOST_PID`, not by whoever its parent was at start.
@Suite("Orphaned scheduler", .timeLimit(.minutes(1)))
struct OrphanedSchedulerTests {
    @Test func aSchedulerWhoseHostIsNotItsParentWindsDownAtOnce() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let gone: Int32 = 4_194_303  // above any pid this machine hands out: the host that died
        let command = ChildCommand(
            command: BatonProcess.builtExecutable("baton-process-scheduler"),
            environment: [
                "BATON_SOCKET": directory.file("nobody.sock"), "BATON_STATE_DIR": directory.file("state"),
                "BATON_ROLE": "scheduler", "BATON_HOST_PID": "\(gone)",
            ]
        )
        let lines = NIOLockedValueBox<[String]>([])
        let exit = try await ChildProcess.run(
            command,
            output: .errorLines { line in lines.withLockedValue { $0.append(line) } }
        )
        #expect(exit.status == .exited(0), "\(exit)")
        #expect(
            lines.withLockedValue { $0 }.contains {
                $0.contains("the host process that started this scheduler is gone")
            }
        )
    }
}
