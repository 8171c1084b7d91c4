import BatonPlugins
import CPidfd
import Foundation
import NIOConcurrencyHelpers

/// The program a kit checks, started for one case with the environment a host would give
/// it, and stopped (SIGTERM, then SIGKILL) when the case ends.
public final class PluginUnderTest: Sendable {
    private let running: Task<Void, Never>
    private let stderr = NIOLockedValueBox<[String]>([])
    /// How it ended, once it has.
    private let exit = NIOLockedValueBox<ChildExit?>(nil)

    public init(
        _ command: [String],
        role: String,
        socket: String,
        stateDirectory: String,
        extra: [String: String] = [:]
    ) {
        var environment = [
            "BATON_SOCKET": socket, "BATON_ROLE": role, "BATON_TOKEN": "", "BATON_STATE_DIR": stateDirectory,
        ]
        environment.merge(extra) { $1 }
        let child = ChildCommand(
            command: command[0],
            arguments: Array(command.dropFirst()),
            environment: environment,
            grace: .seconds(5)
        )
        let lines = stderr
        let exit = self.exit
        // Held, and ended by `stop()`, which every kit's case end calls.
        running = Task {
            let status = try? await ChildProcess.run(
                child,
                output: .errorLines { line in lines.withLockedValue { $0.append(line) } }
            )
            exit.withLockedValue { $0 = status }
        }
    }

    /// How it ended, or nil while it runs (or when it could not be started at all).
    public var ended: ChildExit? { exit.withLockedValue { $0 } }

    /// The plugin's last stderr lines, for a failing case.
    public var lastLines: [String] { stderr.withLockedValue { Array($0.suffix(10)) } }

    public func stop() async {
        running.cancel()
        await running.value
    }
}

/// A scratch directory for one case.
public struct CaseDirectory: Sendable {
    public let path: String

    public init() throws {
        var template = Array("/tmp/baton-contract-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw CaseFailure("cannot create a directory in /tmp")
        }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Marks the processes a case starts: sandboxes outlive the scheduler that started them, by
    /// design, so the kit finds what is left of them by this variable when the case ends.
    static let tagVariable = "BATON_CONTRACT_CASE"

    var processTag: [String: String] { [Self.tagVariable: path] }

    /// Kills every process that carries this case's tag and returns once they are gone, or
    /// after `within`. Each is killed through a pidfd, which becomes readable when it has
    /// exited; a process one of them forked meanwhile is found by the next scan.
    func killTaggedProcesses(within: Duration = .seconds(5)) {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            let tagged = Self.taggedProcesses().filter { $0.caseDirectory == path }
            guard !tagged.isEmpty else { return }
            var exits: [pollfd] = []
            for process in tagged {
                let descriptor = baton_pidfd_open(process.pid)
                guard descriptor >= 0 else {
                    kill(process.pid, SIGKILL)  // gone already, or a kernel without pidfds
                    continue
                }
                _ = baton_pidfd_send_signal(descriptor, SIGKILL)
                exits.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0))
            }
            while exits.contains(where: { $0.revents == 0 }), ContinuousClock.now < deadline {
                let left = deadline - ContinuousClock.now
                let milliseconds = Int32(
                    left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
                )
                var waiting = exits.filter { $0.revents == 0 }
                guard poll(&waiting, nfds_t(waiting.count), max(1, milliseconds)) > 0 else { break }
                for done in waiting where done.revents != 0 {
                    if let index = exits.firstIndex(where: { $0.fd == done.fd }) { exits[index].revents = done.revents }
                }
            }
            for exit in exits { close(exit.fd) }
        }
    }

    /// Whether a process this case tagged listens on TCP `port`: a port picked free may be
    /// taken by another program before the plugin binds it, and that program may answer too.
    func ownsListener(port: Int) -> Bool {
        let sockets = Self.listeningSockets(port: port)
        guard !sockets.isEmpty else { return false }
        return Self.taggedProcesses().contains { process in
            guard process.caseDirectory == path else { return false }
            let descriptors = "/proc/\(process.pid)/fd"
            return ((try? FileManager.default.contentsOfDirectory(atPath: descriptors)) ?? []).contains {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(descriptors)/\($0)"))
                    .map(sockets.contains) ?? false
            }
        }
    }

    /// `socket:[inode]` of every socket listening on TCP `port`, as /proc/PID/fd names them.
    private static func listeningSockets(port: Int) -> Set<String> {
        let suffix = ":" + String(port, radix: 16, uppercase: true).leftPadded(to: 4)
        var found: Set<String> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = readWhole(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st ... inode: the state 0A is LISTEN.
                let columns = line.split(separator: " ")
                guard columns.count > 9, columns[3] == "0A", columns[1].hasSuffix(suffix) else { continue }
                found.insert("socket:[\(columns[9])]")
            }
        }
        return found
    }

    /// A file read to its end: a /proc table says it is empty and grows as it is read.
    private static func readWhole(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Every process some case tagged, with that case's directory.
    public static func taggedProcesses() -> [(pid: pid_t, caseDirectory: String)] {
        let prefix = Array("\(tagVariable)=".utf8)
        var found: [(pid: pid_t, caseDirectory: String)] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), pid != getpid(),
                let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ"),
                let tag = environment.split(separator: 0).first(where: { $0.starts(with: prefix) })
            else { continue }
            found.append((pid, String(decoding: tag.dropFirst(prefix.count), as: UTF8.self)))
        }
        return found
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
