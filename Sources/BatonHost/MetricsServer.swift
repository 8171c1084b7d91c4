import BatonListening
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// Serves the host's metrics as Prometheus text on `GET /metrics`.
public final class MetricsServer: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let host: String
    private let port: Int
    private let group: any EventLoopGroup
    private let listener = Listener()

    init(registry: PrometheusCollectorRegistry, host: String, port: Int, group: any EventLoopGroup) {
        self.registry = registry
        self.host = host
        self.port = port
        self.group = group
    }

    /// The port the listener is bound to, once started.
    public var boundPort: Int? { listener.localAddress?.port }
    var localAddress: SocketAddress? { listener.localAddress }

    func start(logger: Logger, inheriting inherited: Int32? = nil) async throws {
        let registry = self.registry
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(registry: registry))
                }
            }
        let (host, port) = (self.host, self.port)
        let bound = try await listener.open(bootstrap, inheriting: inherited) { bootstrap in
            try await bootstrap.bind(host: host, port: port).get()
        }
        logger.info("metrics listening", metadata: ["address": "\(host):\(bound.localAddress?.port ?? port)"])
    }

    func stop() async {
        await listener.close()
    }
}

private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var path = ""

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.uri
        case .body:
            break
        case .end:
            let found = path == "/metrics" || path.hasPrefix("/metrics?")
            let body = found ? registry.emitToString() : "Not found: metrics are at /metrics\n"
            let headers = HTTPHeaders([
                ("Content-Type", found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8"),
                ("Content-Length", "\(body.utf8.count)"),
            ])
            context.write(
                wrapOutboundOut(
                    .head(HTTPResponseHead(version: .http1_1, status: found ? .ok : .notFound, headers: headers))
                ),
                promise: nil
            )
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))),
                promise: nil
            )
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
