import BatonProtocol
import NIOCore
import NIOPosix

/// The host's own readiness check: a TCP connect to the sandbox's URL, or, with a health
/// path, a GET of it that must answer 2xx. Every check has a deadline.
public struct NetworkReadinessProbe: Sendable {
    public let group: any EventLoopGroup
    public var timeout: TimeAmount

    public init(group: any EventLoopGroup, timeout: TimeAmount = .seconds(2)) {
        self.group = group
        self.timeout = timeout
    }

    /// Returns once the sandbox at `url` answers, checking every `interval`; throws when
    /// the calling task is cancelled first.
    public func waitUntilReady(
        url: String,
        health: HealthCheck?,
        every interval: Duration = .milliseconds(50)
    )
        async throws
    {
        while await !isReady(url: url, health: health) { try await Task.sleep(for: interval) }
    }

    public func isReady(url: String, health: HealthCheck?) async -> Bool {
        guard let endpoint = SandboxEndpoint(url) else { return false }
        let loop = group.next()
        let status = loop.makePromise(of: Int.self)
        defer { status.fail(ChannelError.alreadyClosed) }  // no-op once answered
        do {
            let channel = try await ClientBootstrap(group: loop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(StatusLineReader(status: status))
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port)
                .get()
            defer { channel.close(promise: nil) }
            guard let health else { return true }
            let request =
                "GET \(health.path) HTTP/1.1\r\nHost: \(endpoint.host):\(endpoint.port)\r\nUser-Agent: baton-probe\r\nConnection: close\r\n\r\n"
            try await channel.writeAndFlush(channel.allocator.buffer(string: request))
            let code = try await status.futureResult.withDeadline(loop, timeout).get()
            return (200..<300).contains(code)
        } catch {
            return false
        }
    }
}

/// Reads the status code from the first line of an HTTP response.
private final class StatusLineReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let status: EventLoopPromise<Int>
    private var head: [UInt8] = []

    init(status: EventLoopPromise<Int>) {
        self.status = status
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        head.append(contentsOf: buffer.readableBytesView.prefix(256 - head.count))
        guard let end = head.firstIndex(of: UInt8(ascii: "\r")) ?? (head.count >= 256 ? head.count : nil) else {
            return
        }
        let line = String(decoding: head[..<end], as: UTF8.self).split(separator: " ")
        status.succeed(line.count >= 2 ? Int(line[1]) ?? 0 : 0)
    }

    func channelInactive(context: ChannelHandlerContext) {
        status.fail(ChannelError.eof)
    }
}

extension EventLoopFuture where Value: Sendable {
    /// Fails with a timeout when the future is not done within `timeout`.
    func withDeadline(_ loop: any EventLoop, _ timeout: TimeAmount) -> EventLoopFuture<Value> {
        let promise = loop.makePromise(of: Value.self)
        let timer = loop.scheduleTask(in: timeout) { promise.fail(ChannelError.connectTimeout(timeout)) }
        cascade(to: promise)
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }
}
