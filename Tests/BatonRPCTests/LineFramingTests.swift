import NIOCore
import NIOEmbedded
import Testing

@testable import BatonRPC

/// The line decoder, driven through an embedded channel so each read is exact.
@Suite("Line framing")
struct LineFramingTests {
    private func frames(limit: Int = 16, reads: [String]) throws -> [String] {
        let collector = FrameCollector()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLineBytes: limit)))
        try channel.pipeline.syncOperations.addHandler(collector)
        for read in reads {
            try channel.writeInbound(channel.allocator.buffer(string: read))
        }
        _ = try channel.finish()  // end of input: the decoder delivers a final unterminated line
        return collector.frames
    }

    /// Records every frame the decoder passes on.
    private final class FrameCollector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var frames: [String] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            frames.append(String(buffer: unwrapInboundIn(data)))
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let tooLong = event as? LineTooLong { frames.append("<too long: \(tooLong.limit)>") }
        }
    }

    @Test func oneReadCarriesManyLines() throws {
        #expect(try frames(reads: ["a\nbb\nccc\n"]) == ["a", "bb", "ccc"])
    }

    @Test func oneLineArrivesInManyReads() throws {
        #expect(try frames(reads: ["ab", "cd", "e\nf", "g\n"]) == ["abcde", "fg"])
    }

    @Test func crlfIsAccepted() throws {
        #expect(try frames(reads: ["one\r\ntwo\r", "\nthree\n"]) == ["one", "two", "three"])
    }

    @Test func aLineOfExactlyTheLimitPasses() throws {
        let line = String(repeating: "x", count: 16)
        #expect(try frames(reads: [line + "\n", line + "\r\n"]) == [line, line])
    }

    @Test func anOversizeLineInOneReadIsReportedAndTheNextLineGetsThrough() throws {
        let long = String(repeating: "x", count: 17)
        #expect(try frames(reads: [long + "\nok\n"]) == ["<too long: 16>", "ok"])
    }

    @Test func anOversizeLineSpreadOverReadsIsReportedOnceAndSkipped() throws {
        let chunk = String(repeating: "y", count: 10)
        let output = try frames(reads: [chunk, chunk, chunk, chunk + "\n", "after\n"])
        #expect(output == ["<too long: 16>", "after"])
    }

    @Test func aFinalLineWithoutNewlineIsDeliveredAtEndOfInput() throws {
        #expect(try frames(reads: ["first\nlast"]) == ["first", "last"])
    }

    @Test func emptyLinesAreDeliveredAsEmpty() throws {
        #expect(try frames(reads: ["\n\r\nx\n"]) == ["", "", "x"])
    }
}
