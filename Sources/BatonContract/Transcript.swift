import BatonJSON
import BatonRPC
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A wire case from `protocol/transcripts`: lines to send and patterns the answers must
/// match, run in lock step on a fresh connection (see `scripts/replay-transcript`).
public struct Transcript: Sendable {
    public var name: String
    public var steps: [JSON]

    public static func load(directory: String) throws -> [Transcript] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".jsonl") }
            .sorted()
        return try files.map { file in
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            let steps = try text.split(separator: "\n").filter { !$0.isEmpty }.map { try JSON.parse(String($0)) }
            return Transcript(name: String(file.dropLast(".jsonl".count)), steps: steps)
        }
    }

    /// Runs it against the host at `socket`; throws `CaseFailure` at the first mismatch.
    public func run(socket: String, record: @escaping @Sendable (String) -> Void) async throws {
        let connection = try await LineConnection.connect(socket)
        defer { Task { await connection.close() } }
        for (index, step) in steps.enumerated() {
            if let message = step["send"] {
                let text = try message.serializedString()
                record("→ \(text)")
                try await connection.send(text)
            } else if let raw = step["sendRaw"]?.stringValue {
                record("→ \(raw)")
                try await connection.send(raw)
            } else if let pattern = step["expect"] {
                guard let line = try await connection.next(within: 10) else {
                    throw CaseFailure(
                        "step \(index + 1): no answer; expected \((try? pattern.serializedString()) ?? "?")"
                    )
                }
                record("← \(line)")
                guard let answer = try? JSON.parse(line), Self.matches(pattern, answer) else {
                    throw CaseFailure(
                        "step \(index + 1): expected \((try? pattern.serializedString()) ?? "?"), got \(line)"
                    )
                }
            }
        }
    }

    /// `"$any"` (also when absent), `"$string"`, `"$number"`, `"$object"`, `"$array"`,
    /// `"$bool"`; objects must have exactly the pattern's members, arrays the same length.
    public static func matches(_ pattern: JSON, _ value: JSON?) -> Bool {
        if case .string("$any") = pattern { return true }
        guard let value else { return false }
        switch (pattern, value) {
        case (.string("$string"), .string), (.string("$object"), .object), (.string("$array"), .array),
            (.string("$bool"), .bool),
            (.string("$number"), .int), (.string("$number"), .real):
            return true
        case (.object(let expected), .object(let actual)):
            guard Set(actual.keys).isSubset(of: Set(expected.keys)) else { return false }
            return expected.members.allSatisfy { matches($0.value, actual[$0.key]) }
        case (.array(let expected), .array(let actual)):
            return expected.count == actual.count && zip(expected, actual).allSatisfy { matches($0, $1) }
        default:
            return pattern == value
        }
    }
}

/// Raw lines over a unix socket, for transcripts: nothing is parsed on the way.
final class LineConnection: Sendable {
    private let channel: any Channel
    private let lines: LineInbox

    private init(channel: any Channel, lines: LineInbox) {
        self.channel = channel
        self.lines = lines
    }

    static func connect(_ socket: String) async throws -> LineConnection {
        let inbox = LineInbox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 1 << 20))
                    )
                    try channel.pipeline.syncOperations.addHandler(LineCollector(inbox: inbox))
                }
            }
            .connect(unixDomainSocketPath: socket)
            .get()
        return LineConnection(channel: channel, lines: inbox)
    }

    func send(_ line: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: line + "\n"))
    }

    func next(within seconds: Double) async throws -> String? {
        await lines.next(within: seconds)
    }

    func close() async {
        try? await channel.close()
    }
}

/// Lines in the order they arrived, handed out one at a time.
private final class LineInbox: Sendable {
    private struct State {
        var lines: [String] = []
        var waiting: CheckedContinuation<String?, Never>?
        var waiter = 0
        var closed = false
    }

    private let state = NIOLockedValueBox(State())

    func add(_ line: String) {
        let waiting = state.withLockedValue { state -> CheckedContinuation<String?, Never>? in
            guard let waiting = state.waiting else {
                state.lines.append(line)
                return nil
            }
            state.waiting = nil
            return waiting
        }
        waiting?.resume(returning: line)
    }

    func close() {
        let waiting = state.withLockedValue { state -> CheckedContinuation<String?, Never>? in
            state.closed = true
            defer { state.waiting = nil }
            return state.waiting
        }
        waiting?.resume(returning: nil)
    }

    /// The next line, or nil once the connection closed or `seconds` passed.
    func next(within seconds: Double) async -> String? {
        await withCheckedContinuation { continuation in
            let ready: String?? = state.withLockedValue { state in
                if !state.lines.isEmpty { return .some(state.lines.removeFirst()) }
                if state.closed { return .some(nil) }
                state.waiter += 1
                state.waiting = continuation
                return nil
            }
            if let ready { return continuation.resume(returning: ready) }
            let waiter = state.withLockedValue { $0.waiter }
            Task {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                let expired = self.state.withLockedValue { state -> CheckedContinuation<String?, Never>? in
                    guard state.waiter == waiter, let waiting = state.waiting else { return nil }
                    state.waiting = nil
                    return waiting
                }
                expired?.resume(returning: nil)
            }
        }
    }
}

private final class LineCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let inbox: LineInbox

    init(inbox: LineInbox) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.add(String(buffer: unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.close()
        context.fireChannelInactive()
    }
}
