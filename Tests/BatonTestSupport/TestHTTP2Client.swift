import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// For tests: an HTTP/2 connection over TLS (ALPN h2) that sends each request on a stream
/// of its own, with the same `Response` as `TestHTTPClient`.
public final class TestHTTP2Client: Sendable {
    private let channel: any Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer

    private init(channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        self.channel = channel
        self.multiplexer = multiplexer
    }

    public static func connect(port: Int, tls: TestHTTPClient.TLS) async throws -> TestHTTP2Client {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port)
            .get()
        let multiplexer = try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(try tls.handler(protocols: ["h2"]))
            return try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                mode: .client,
                connectionConfiguration: .init(),
                streamConfiguration: .init()
            ) { stream in stream.eventLoop.makeSucceededVoidFuture() }
        }.get()
        return TestHTTP2Client(channel: channel, multiplexer: multiplexer)
    }

    /// One request on a new stream; `host` becomes `:authority`.
    public func send(
        method: HTTPMethod = .GET,
        path: String = "/",
        host: String,
        headers: [(String, String)] = [],
        body: String? = nil
    ) async throws -> TestHTTPClient.Response {
        let done = channel.eventLoop.makePromise(of: TestHTTPClient.Response.self)
        let stream = try await multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                let collector = ResponseCollector()
                collector.expect(done)
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .https))
                try stream.pipeline.syncOperations.addHandler(collector)
            }
        }.get()
        var requestHeaders = HTTPHeaders([("Host", host)] + headers)
        if let body { requestHeaders.replaceOrAdd(name: "Content-Length", value: "\(body.utf8.count)") }
        stream.write(
            HTTPClientRequestPart.head(
                HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: requestHeaders)
            ),
            promise: nil
        )
        if let body {
            stream.write(HTTPClientRequestPart.body(.byteBuffer(stream.allocator.buffer(string: body))), promise: nil)
        }
        // A server may answer before the request is whole and reset the rest (RFC 9113 §8.1):
        // then the write fails and the answer is what counts.
        try? await stream.writeAndFlush(HTTPClientRequestPart.end(nil))
        return try await done.futureResult.get()
    }

    /// Completes when the server closes the connection.
    public var closed: EventLoopFuture<Void> { channel.closeFuture }

    public func close() async {
        try? await channel.close()
    }
}
