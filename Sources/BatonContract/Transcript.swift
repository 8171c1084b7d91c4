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
        do {
            try await play(on: connection, record: record)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }

    private func play(on connection: LineConnection, record: (String) -> Void) async throws {
        for (index, step) in steps.enumerated() {
            if let message = step["send"] {
                let text = try message.serializedString()
                record("→ \(text)")
                try await connection.send(text)
            } else if let raw = step["sendRaw"]?.stringValue {
                record("→ \(raw)")
                try await connection.send(raw)
            } else if let pattern = step["expect"] {
                guard let line = await connection.next(within: 10) else {
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
    /// `"$bool"`, `"$protocol"` (`baton/1.1` or a newer minor version: a host answers with
    /// its own); objects must have exactly the pattern's members, arrays the same length.
    public static func matches(_ pattern: JSON, _ value: JSON?) -> Bool {
        if case .string("$any") = pattern { return true }
        guard let value else { return false }
        switch (pattern, value) {
        case (.string("$protocol"), .string(let text)):
            guard let version = ProtocolVersion(text) else { return false }
            return version.major == 1 && version.minor >= 1
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
    private let lines: Mailbox<String>

    private init(channel: any Channel, lines: Mailbox<String>) {
        self.channel = channel
        self.lines = lines
    }

    static func connect(_ socket: String) async throws -> LineConnection {
        let (lines, input) = AsyncStream.makeStream(of: String.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 1 << 20))
                    )
                    try channel.pipeline.syncOperations.addHandler(LineCollector(lines: input))
                }
            }
            .connect(unixDomainSocketPath: socket)
            .get()
        return LineConnection(channel: channel, lines: Mailbox(lines))
    }

    func send(_ line: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: line + "\n"))
    }

    /// The next line, or nil once the connection closed or `seconds` passed.
    func next(within seconds: Double) async -> String? {
        try? await lines.next("a line", within: seconds, matching: { _ in true })
    }

    func close() async {
        try? await channel.close()
    }
}

private final class LineCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let lines: AsyncStream<String>.Continuation

    init(lines: AsyncStream<String>.Continuation) {
        self.lines = lines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lines.yield(String(buffer: unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        lines.finish()
        context.fireChannelInactive()
    }
}
