import BatonPlugins
import Subprocess
import SystemPackage

/// For tests: real etcd members (Debian's `etcd-server`) on loopback, each with its data in a
/// private directory, started together and stopped, every one, before `running` returns.
public final class EtcdCluster: Sendable {
    public struct Member: Sendable {
        public var name: String
        public var clientURL: String
        var peerURL: String
    }

    public let members: [Member]
    private let processes: [Execution<NoInput, DiscardedOutput, SequenceOutput>]

    /// The client URLs, for `--cluster`.
    public var endpoints: [String] { members.map(\.clientURL) }

    private init(members: [Member], processes: [Execution<NoInput, DiscardedOutput, SequenceOutput>]) {
        self.members = members
        self.processes = processes
    }

    /// Ends member `index` at once (SIGKILL), as a crash would.
    public func kill(_ index: Int) {
        try? processes[index].send(signal: .kill)
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
        return try await start(members[...], all: members, in: directory, started: [], ready: []) { processes in
            try await body(EtcdCluster(members: members, processes: processes))
        }
    }

    /// Starts the first of `rest` and the others inside it, so every member's process is
    /// stopped before the one that started it returns; `body` runs once all serve clients.
    private static func start<T: Sendable>(
        _ rest: ArraySlice<Member>,
        all: [Member],
        in directory: TemporaryDirectory,
        started: [Execution<NoInput, DiscardedOutput, SequenceOutput>],
        ready: [AsyncStream<Void>],
        _ body: ([Execution<NoInput, DiscardedOutput, SequenceOutput>]) async throws -> T
    ) async throws -> T {
        guard let member = rest.first else {
            for stream in ready {
                var iterator = stream.makeAsyncIterator()
                guard await iterator.next() != nil else {
                    throw Stopped(what: "an etcd member ended before it served clients")
                }
            }
            return try await body(started)
        }
        let cluster = all.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        let arguments = [
            "--name", member.name, "--data-dir", directory.file(member.name),
            "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
            "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--logger", "zap",
        ]
        let result = try await Subprocess.run(
            .path(FilePath("/usr/bin/etcd")),
            arguments: Arguments(arguments),
            input: .none,
            output: .discarded,
            error: .sequence
        ) { execution in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (serving, signal) = AsyncStream<Void>.makeStream()
                // The log is read to its end, whether or not anyone waits: a full pipe would stop etcd.
                group.addTask {
                    for try await line in execution.standardError.strings()
                    where line.contains("serving client traffic") {
                        signal.yield()
                    }
                    signal.finish()
                }
                defer { try? execution.send(signal: .terminate) }
                return try await start(
                    rest.dropFirst(),
                    all: all,
                    in: directory,
                    started: started + [execution],
                    ready: ready + [serving],
                    body
                )
            }
        }
        return result.closureResult
    }

    struct Stopped: Error, CustomStringConvertible {
        var what: String
        var description: String { what }
    }
}
