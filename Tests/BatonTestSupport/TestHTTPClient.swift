import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS

/// For tests: HTTP/1.1 requests on one connection, one at a time, each with its whole
/// response; over TLS when asked.
public final class TestHTTPClient: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// HTTPS to the server: trusting only `trustedPEM`, naming `serverName` (SNI), if given.
    public struct TLS: Sendable {
        public var trustedPEM: String
        public var serverName: String?

        public init(trusting trustedPEM: String, serverName: String?) {
            self.trustedPEM = trustedPEM
            self.serverName = serverName
        }

        func handler(protocols: [String] = []) throws -> NIOSSLClientHandler {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.applicationProtocols = protocols
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(trustedPEM.utf8)))
            if serverName == nil { configuration.certificateVerification = .noHostnameVerification }
            return try NIOSSLClientHandler(
                context: NIOSSLContext(configuration: configuration),
                serverHostname: serverName
            )
        }
    }

    private let channel: any Channel
    private let collector: NIOLoopBound<ResponseCollector>

    private init(channel: any Channel, collector: NIOLoopBound<ResponseCollector>) {
        self.channel = channel
        self.collector = collector
    }

    public static func connect(port: Int, tls: TLS? = nil) async throws -> TestHTTPClient {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let collector = try await loop.submit { NIOLoopBound(ResponseCollector(), eventLoop: loop) }.get()
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try tls.handler()) }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(collector.value)
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return TestHTTPClient(channel: channel, collector: collector)
    }

    /// One request on a fresh connection, closed after its response.
    public static func send(
        port: Int,
        method: HTTPMethod = .GET,
        path: String = "/",
        host: String,
        headers: [(String, String)] = [],
        body: String? = nil,
        tls: TLS? = nil
    ) async throws -> Response {
        let client = try await connect(port: port, tls: tls)
        do {
            let response = try await client.send(method: method, path: path, host: host, headers: headers, body: body)
            await client.close()
            return response
        } catch {
            await client.close()
            throw error
        }
    }

    /// One request on this connection, once the one before it was answered.
    public func send(
        method: HTTPMethod = .GET,
        path: String = "/",
        host: String,
        headers: [(String, String)] = [],
        body: String? = nil
    ) async throws -> Response {
        var requestHeaders = HTTPHeaders([("Host", host)] + headers)
        if let body { requestHeaders.replaceOrAdd(name: "Content-Length", value: "\(body.utf8.count)") }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: requestHeaders)
        let (channel, collector) = (self.channel, self.collector)
        let response = try await channel.eventLoop.submit {
            let done = channel.eventLoop.makePromise(of: Response.self)
            collector.value.expect(done)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body {
                channel.write(
                    HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(string: body))),
                    promise: nil
                )
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            return done.futureResult
        }.get()
        return try await response.get()
    }

    /// When the server's certificate expires (seconds since 1970), once the handshake is done.
    public func peerCertificateNotAfter() async throws -> Int64? {
        let channel = self.channel
        return try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate.map {
                Int64($0.notValidAfter)
            }
        }.get()
    }

    /// Completes when the server closes the connection.
    public var closed: EventLoopFuture<Void> { channel.closeFuture }

    public func close() async {
        try? await channel.close()
    }
}

/// Answers the requests sent on its connection, in order.
final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var waiting: [EventLoopPromise<TestHTTPClient.Response>] = []
    private var response: TestHTTPClient.Response?
    private var connection = Connection.open

    /// A request sent after the connection ended (a refused handshake may end it before the
    /// request is written) must fail at once: nothing will answer it.
    private enum Connection {
        case open
        case ended(any Error)
    }

    func expect(_ promise: EventLoopPromise<TestHTTPClient.Response>) {
        switch connection {
        case .open: waiting.append(promise)
        case .ended(let error): promise.fail(error)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response = TestHTTPClient.Response(status: Int(head.status.code), headers: head.headers, body: "")
        case .body(let buffer):
            response?.body += String(buffer: buffer)
        case .end:
            if let response, !waiting.isEmpty { waiting.removeFirst().succeed(response) }
            response = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(TestHTTPClient.Failure(description: "connection closed before the response ended"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(error)
        context.close(promise: nil)
    }

    private func end(_ error: any Error) {
        if case .open = connection { connection = .ended(error) }
        let failed = waiting
        waiting = []
        for promise in failed { promise.fail(error) }
    }
}

extension TestHTTPClient {
    /// What a TLS handshake alone shows, trusting any certificate: the protocol ALPN chose and
    /// the server's certificate (DER); `closed` completes when the server closes.
    public struct Handshake: Sendable {
        public var negotiated: String?
        public var certificateDER: [UInt8]
        fileprivate var channel: any Channel

        public var closed: EventLoopFuture<Void> { channel.closeFuture }

        public func close() async {
            try? await channel.close()
        }
    }

    public static func handshake(port: Int, serverName: String, protocols: [String]) async throws -> Handshake {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        configuration.applicationProtocols = protocols
        let context = try NIOSSLContext(configuration: configuration)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let done = loop.makePromise(of: HandshakeWatcher.Seen.self)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: context, serverHostname: serverName)
                    )
                    try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        let seen = try await done.futureResult.get()
        guard let certificate = seen.certificateDER else {
            try? await channel.close()
            throw Failure(description: "no certificate from the server")
        }
        return Handshake(negotiated: seen.negotiated, certificateDER: certificate, channel: channel)
    }
}

/// Tells how the handshake ended: with what the client saw of the server, taken at once (a
/// server may close right after), or with why it failed.
final class HandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct Seen: Sendable {
        var negotiated: String?
        var certificateDER: [UInt8]?
    }

    private let done: EventLoopPromise<Seen>

    init(done: EventLoopPromise<Seen>) {
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            done.succeed(Seen(negotiated: negotiated, certificateDER: try? tls?.peerCertificate?.toDERBytes()))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(TestHTTPClient.Failure(description: "closed before the handshake was done"))
        context.fireChannelInactive()
    }
}
