import BatonPlugins
import Subprocess
import Synchronization
import SystemPackage

/// For tests: real etcd members (Debian's `etcd-server`) on loopback, each with its data in a
/// private directory. A member can be killed, stopped and started again on its data; every
/// member's process is stopped before `running` returns.
public final class EtcdCluster: Sendable {
    public struct Member: Sendable {
        public var name: String
        public var clientURL: String
        var peerURL: String
    }

    public let members: [Member]
    private let slots: [MemberSlot]

    /// The client URLs, for `--cluster`.
    public var endpoints: [String] { members.map(\.clientURL) }

    private init(members: [Member], slots: [MemberSlot]) {
        self.members = members
        self.slots = slots
    }

    /// Ends member `index` at once (SIGKILL), as a crash would, and returns once it has exited.
    public func kill(_ index: Int) async throws {
        slots[index].send(.kill)
        try await slots[index].awaitEvent(.exited)
    }

    /// Stops member `index` as an operator does (SIGTERM), and returns once it has exited.
    public func stop(_ index: Int) async throws {
        slots[index].send(.terminate)
        try await slots[index].awaitEvent(.exited)
    }

    /// Starts member `index` again on the data it kept, and returns once it serves clients.
    public func start(_ index: Int) async throws {
        slots[index].requestStart()
        try await slots[index].awaitEvent(.serving)
    }

    /// Starts `count` members, waits until every one serves clients, runs `body`, and stops them.
    public static func running<T: Sendable>(
        members count: Int = 1,
        _ body: (EtcdCluster) async throws -> T
    ) async throws -> T {
        let directory = TemporaryDirectory(under: "/dev/shm")
        defer { directory.remove() }
        var members: [Member] = []
        for index in 0..<count {
            members.append(
                Member(
                    name: "m\(index)",
                    clientURL: "http://127.0.0.1:\(try FreePort.pick())",
                    peerURL: "http://127.0.0.1:\(try FreePort.pick())"
                )
            )
        }
        let cluster = EtcdCluster(members: members, slots: members.map { _ in MemberSlot() })
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let peers = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
            for (member, slot) in zip(members, cluster.slots) {
                let arguments = [
                    "--name", member.name, "--data-dir", directory.file(member.name),
                    "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
                    "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
                    "--initial-cluster", peers, "--initial-cluster-state", "new", "--logger", "zap",
                ]
                group.addTask { try await slot.keep(arguments: arguments) }
            }
            // Every member ends with the group: asked to stop, it is not started again.
            defer { for slot in cluster.slots { slot.end() } }
            for slot in cluster.slots { try await slot.awaitEvent(.serving) }
            let result = try await body(cluster)
            for slot in cluster.slots { slot.end() }
            try await group.waitForAll()
            return result
        }
    }

    struct Stopped: Error, CustomStringConvertible {
        var what: String
        var description: String { what }
    }
}

/// One member's process across its restarts: who runs now, and what it did.
private final class MemberSlot: Sendable {
    enum Event: Sendable, Equatable { case serving, exited }

    /// The process that runs, or none; `ended` once the cluster stops, so nothing starts again.
    private enum Run {
        case running(Execution<NoInput, DiscardedOutput, SequenceOutput>)
        case down
        case ended
    }

    private let run = Mutex(Run.down)
    /// What the process did, read by one caller at a time: each signal and start waits for its event.
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private let starts: AsyncStream<Void>
    private let startSink: AsyncStream<Void>.Continuation

    init() {
        (events, eventSink) = AsyncStream.makeStream()
        (starts, startSink) = AsyncStream.makeStream()
    }

    func send(_ signal: Subprocess.Signal) {
        run.withLock { run in
            if case .running(let execution) = run { try? execution.send(signal: signal) }
        }
    }

    func requestStart() { startSink.yield() }

    /// Stops the process that runs, and starts none again.
    func end() {
        let running = run.withLock { run -> Execution<NoInput, DiscardedOutput, SequenceOutput>? in
            defer { run = .ended }
            if case .running(let execution) = run { return execution }
            return nil
        }
        try? running?.send(signal: .terminate)
        startSink.finish()
    }

    /// Returns at the next event if it is `event`; a member that exits before it serves fails.
    func awaitEvent(_ event: Event) async throws {
        var reader = events.makeAsyncIterator()
        guard await reader.next() != event else { return }
        throw EtcdCluster.Stopped(what: "an etcd member did not become \(event)")
    }

    /// Runs the member, and again on each start asked for after it exits, until `end()`.
    func keep(arguments: [String]) async throws {
        var startRequests = starts.makeAsyncIterator()
        repeat {
            _ = try await Subprocess.run(
                .path(FilePath("/usr/bin/etcd")),
                arguments: Arguments(arguments),
                input: .none,
                output: .discarded,
                error: .sequence
            ) { execution in
                let ended = run.withLock { run -> Bool in
                    if case .ended = run { return true }
                    run = .running(execution)
                    return false
                }
                if ended { try? execution.send(signal: .terminate) }
                // The log is read to its end: a full pipe would stop etcd.
                for try await line in execution.standardError.strings() where line.contains("serving client traffic") {
                    eventSink.yield(.serving)
                }
            }
            run.withLock { run in if case .running = run { run = .down } }
            eventSink.yield(.exited)
        } while await startRequests.next() != nil
        eventSink.finish()
    }
}
