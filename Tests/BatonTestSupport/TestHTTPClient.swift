import NIOCore
import NIOHTTP1
import NIOPosix

/// For tests: one HTTP/1.1 request on a fresh connection, and the whole response.
public enum TestHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func send(
        port: Int,
        method: HTTPMethod = .GET,
        path: String = "/",
        host: String,
        headers: [(String, String)] = [],
        body: String? = nil
    ) async throws -> Response {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let done = loop.makePromise(of: Response.self)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        var requestHeaders = HTTPHeaders([("Host", host)] + headers)
        if let body { requestHeaders.replaceOrAdd(name: "Content-Length", value: "\(body.utf8.count)") }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: requestHeaders)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(string: body))), promise: nil)
        }
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
        defer { channel.close(promise: nil) }
        return try await done.futureResult.get()
    }
}

private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let done: EventLoopPromise<TestHTTPClient.Response>
    private var response: TestHTTPClient.Response?

    init(done: EventLoopPromise<TestHTTPClient.Response>) {
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response = TestHTTPClient.Response(status: Int(head.status.code), headers: head.headers, body: "")
        case .body(let buffer):
            response?.body += String(buffer: buffer)
        case .end:
            if let response { done.succeed(response) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(TestHTTPClient.Failure(description: "connection closed before the response ended"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }
}
