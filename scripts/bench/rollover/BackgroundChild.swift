import BatonPlugins
import NIOConcurrencyHelpers

/// A program the benchmark runs beside itself, output to a log file; `stop()` sends SIGTERM
/// to its process group, SIGKILL after the command's grace, and returns once it is gone.
final class BackgroundChild: Sendable {
    private let running: Task<Void, Never>
    private let started = NIOLockedValueBox<Int32?>(nil)

    init(_ command: ChildCommand, log: String) {
        let started = self.started
        running = Task {
            _ = try? await ChildProcess.run(command, output: .file(log)) { pid in started.withLockedValue { $0 = pid } }
        }
    }

    var pid: Int32? { started.withLockedValue { $0 } }

    func stop() async {
        running.cancel()
        await running.value
    }
}
