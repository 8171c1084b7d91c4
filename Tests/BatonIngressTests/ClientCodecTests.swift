import BatonHTTP1
import NIOCore
import NIOEmbedded
import Testing

@testable import BatonIngress

/// The client side codec in a channel of its own: what it hands on, and what it keeps.
@Suite("Client codec")
struct ClientCodecTests {
    /// Collects what the codec hands on, as a handler behind it would get it.
    final class Collector: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ClientPart
        var parts: [String] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head, let framing): parts.append("head \(head.method) \(framing)")
            case .body(let body): parts.append("body \(String(buffer: body))")
            case .end: parts.append("end")
            case .violation(let violation, let inBody, let minor):
                parts.append("violation \(violation) \(inBody) 1.\(minor)")
            }
        }
    }

    func channel() throws -> (EmbeddedChannel, ClientCodec, Collector) {
        let channel = EmbeddedChannel()
        let codec = ClientCodec(limits: HeadLimits())
        let collector = Collector()
        try channel.pipeline.syncOperations.addHandler(codec)
        try channel.pipeline.syncOperations.addHandler(collector)
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, codec, collector)
    }

    @Test func pipelinedRequestsComeInOrderWithTheirBodies() throws {
        let (channel, _, collector) = try channel()
        try channel.writeInbound(
            ByteBuffer(
                string: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\nHost: a\r\n\r\n"
            )
        )
        #expect(collector.parts == ["head POST length(2)", "body hi", "end", "head GET none", "end"])
        _ = try channel.finish()
    }

    @Test func aViolationSaysWhetherItCameInABody() throws {
        let (inHead, _, headCollector) = try channel()
        try inHead.writeInbound(ByteBuffer(string: "GET / HTTP/1.0\r\nX : 1\r\n\r\n"))
        #expect(headCollector.parts == ["violation whitespaceBeforeColon false 1.1"])
        let (inBody, _, bodyCollector) = try channel()
        try inBody.writeInbound(
            ByteBuffer(string: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")
        )
        #expect(bodyCollector.parts == ["violation transferEncodingInHTTP10 false 1.0"])
        let (chunked, _, chunkedCollector) = try channel()
        try chunked.writeInbound(
            ByteBuffer(string: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        )
        #expect(chunkedCollector.parts == ["head POST chunked", "violation badChunkSize true 1.1"])
        // Nothing is read after a violation.
        try chunked.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(chunkedCollector.parts.count == 2)
    }

    @Test func bytesAfterAnUpgradeRequestGoOnAsBytesWhenTheCodecLeaves() throws {
        let (channel, codec, collector) = try channel()
        try channel.writeInbound(
            ByteBuffer(
                string: "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe-bytes"
            )
        )
        // Not read as HTTP: they may be another protocol's.
        #expect(collector.parts == ["head GET none", "end"])
        // As when a tunnel takes over: the handler behind leaves first, then the codec.
        try channel.pipeline.syncOperations.removeHandler(collector).wait()
        try channel.pipeline.syncOperations.removeHandler(codec).wait()
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "frame-bytes")
        _ = try channel.finish()
    }
}
