import BatonJSON
import BatonPlugins
import BatonRPC
import BatonTestSupport
import Logging
import NIOConcurrencyHelpers
import Testing

/// A scheduler's session rules, against a stand-in host that can skip a `seq` and restart:
/// a gap means subscribing again, and a host that comes back is reconnected to and synced.
@Suite("Scheduler sessions", .timeLimit(.minutes(1)))
struct SchedulerSessionTests {
    /// A host that only knows the scheduler's methods and says what it was asked.
    private final class StandInHost: Sendable {
        let calls: AsyncStream<String>
        private let record: AsyncStream<String>.Continuation
        private let sessions = NIOLockedValueBox<[String: RPCSession]>([:])
        let server: RPCServer

        init(socket: String, name: String) {
            (calls, record) = AsyncStream.makeStream(of: String.self)
            var logger = Logger(label: "stand-in")
            logger.logLevel = .critical
            let sessions = sessions
            let record = record
            let methods: [RPCMethod] = [
                .sync("scheduler.subscribe", roles: [.scheduler]) { call in
                    let id = "\(name)-\(sessions.withLockedValue { $0.count } + 1)"
                    sessions.withLockedValue { $0[id] = call.session }
                    record.yield("subscribe \(id)")
                    return ["subscription": .string(id), "seq": 0, "pools": []]
                },
                .sync("scheduler.sync", roles: [.scheduler]) { _ in
                    record.yield("sync")
                    return [:]
                },
                .sync("scheduler.report", roles: [.scheduler]) { _ in [:] },
            ]
            server = RPCServer(
                configuration: RPCServerConfiguration(
                    socketPath: socket,
                    host: RPCProgramInfo(name: "stand-in", version: "0")
                ),
                methods: RPCMethodTable(methods),
                logger: logger
            )
        }

        func push(_ subscription: String, seq: Int64) {
            sessions.withLockedValue { $0[subscription] }?.notify(
                "scheduler.desired",
                ["subscription": .string(subscription), "seq": .int(seq), "pools": []]
            )
        }
    }

    @Test(arguments: SchedulerPlugin.allCases)
    func aSeqGapMeansSubscribingAgainAndARestartedHostIsReconnectedTo(_ plugin: SchedulerPlugin) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("host.sock")
        var command = plugin.spec.command
        command.environment = [
            "BATON_SOCKET": socket, "BATON_STATE_DIR": directory.file("state"), "BATON_ROLE": "scheduler",
        ]
        let first = StandInHost(socket: socket, name: "first")
        try await first.server.start()
        let scheduler = Task { try await ChildProcess.run(command, output: .errorLines { _ in }) }
        defer { scheduler.cancel() }

        var calls = first.calls.makeAsyncIterator()
        #expect(await calls.next() == "subscribe first-1")
        first.push("first-1", seq: 1)
        first.push("first-1", seq: 3)  // seq 2 never came
        var next = await calls.next()
        if next == "sync" { next = await calls.next() }
        #expect(next == "subscribe first-2", "a gap in seq means a new subscription")

        await first.server.stop()
        let second = StandInHost(socket: socket, name: "second")
        try await second.server.start()
        var afterRestart = second.calls.makeAsyncIterator()
        #expect(await afterRestart.next() == "subscribe second-1", "the scheduler came back to the restarted host")
        #expect(await afterRestart.next() == "sync")
        scheduler.cancel()
        _ = try await scheduler.value
        await second.server.stop()
    }
}
