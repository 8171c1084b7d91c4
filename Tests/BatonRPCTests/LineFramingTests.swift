@testable import BatonRPC
import NIOCore
import NIOEmbedded
import Testing

/// The line decoder, driven through an embedded channel so each read is exact.
@Suite("Line framing")
struct LineFramingTests {
    private func frames(limit: Int = 16, reads: [String]) throws -> [String] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLineBytes: limit)))
        for read in reads {
            try channel.writeInbound(channel.allocator.buffer(string: read))
        }
        try channel.close(mode: .input).wait()
        var output: [String] = []
        while let frame = try channel.readInbound(as: LineFrame.self) {
            switch frame {
            case .line(let buffer): output.append(String(buffer: buffer))
            case .tooLong(let limit): output.append("<too long: \(limit)>")
            }
        }
        _ = try? channel.finish()
        return output
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
