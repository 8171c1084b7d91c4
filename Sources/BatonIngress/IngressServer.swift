import BatonCore
import BatonHTTP1
import BatonListening
import BatonTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP2
import NIOPosix

/// What every proxied connection shares.
final class IngressContext: Sendable {
    let configuration: IngressConfiguration
    let routes: RouteTable
    let leases: LeaseCache
    /// What each event loop keeps for its own connections; a connection looks it up once.
    let loops: PerEventLoop<LoopServices>
    let load = AppLoad()
    let tunnels: TunnelRegistry
    let logger: Logger
    let metrics: IngressMetrics
    /// The port HTTPS is served on once bound, for redirects to it.
    let httpsPort = NIOLockedValueBox<Int?>(nil)
    /// ACME's open challenges: HTTP-01 answered over plain HTTP before routing, TLS-ALPN-01
    /// before TLS on HTTPS.
    let challenges: ChallengeBoard?

    init(
        configuration: IngressConfiguration,
        routes: RouteTable,
        leases: LeaseCache,
        logger: Logger,
        metrics: IngressMetrics,
        challenges: ChallengeBoard?
    ) {
        self.configuration = configuration
        self.challenges = challenges
        self.routes = routes
        self.leases = leases
        loops = PerEventLoop { loop in
            LoopServices(
                pool: UpstreamPool(eventLoop: loop),
                timers: LoopTimers(eventLoop: loop),
                leases: leases.shelf(for: loop)
            )
        }
        self.logger = logger
        self.metrics = metrics
        tunnels = TunnelRegistry(configuration: configuration, metrics: metrics)
    }
}

/// One event loop's own upstream connections, timers and leases.
struct LoopServices {
    let pool: UpstreamPool
    let timers: LoopTimers
    let leases: LeaseShelf
}

/// One `Value` per event loop, created on first use there and only used there.
final class PerEventLoop<Value>: Sendable {
    private let values = NIOLockedValueBox<[ObjectIdentifier: NIOLoopBound<Value>]>([:])
    private let make: @Sendable (any EventLoop) -> Value

    init(_ make: @escaping @Sendable (any EventLoop) -> Value) {
        self.make = make
    }

    /// Must be called on `loop`.
    func value(for loop: any EventLoop) -> Value {
        let key = ObjectIdentifier(loop)
        return values.withLockedValue { values in
            if let existing = values[key] { return existing }
            let created = NIOLoopBound(make(loop), eventLoop: loop)
            values[key] = created
            return created
        }.value
    }
}

/// The reverse proxy in front of the apps, over HTTP and, with `tls`, HTTPS.
public final class IngressServer: Sendable {
    let context: IngressContext
    let group: any EventLoopGroup
    private let listener = Listener()
    private let httpsListener = Listener()
    private let certificates: CertificateBook?
    /// Client connections, so that a handover can let them finish.
    private let connections = ClientConnections()

    /// The port the listener is bound to, once started.
    public var port: Int? { listener.localAddress?.port }
    public var localAddress: SocketAddress? { listener.localAddress }
    public var httpsPort: Int? { httpsListener.localAddress?.port }
    public var httpsLocalAddress: SocketAddress? { httpsListener.localAddress }

    /// An ingress with its own lease cache on `broker`, which it starts and stops with itself.
    public init(
        configuration: IngressConfiguration,
        routes: RouteTable,
        broker: LeaseBroker,
        clock: any CoreClock,
        logger: Logger,
        metrics: IngressMetrics = .disabled,
        certificates: CertificateBook? = nil,
        challenges: ChallengeBoard? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.certificates = certificates
        let leases = LeaseCache(
            broker: broker,
            clock: clock,
            slotsPerLease: configuration.leaseSlots,
            logger: logger,
            metrics: metrics
        )
        context = IngressContext(
            configuration: configuration,
            routes: routes,
            leases: leases,
            logger: logger,
            metrics: metrics,
            challenges: challenges
        )
        self.group = group
    }

    /// The requests in flight through this ingress, by app.
    public nonisolated func requestsInFlight() -> [AppName: Int] {
        context.load.active()
    }

    /// Listening sockets a previous host handed over, by what they serve.
    public struct InheritedListeners: Sendable {
        public var http: Int32?
        public var https: Int32?

        public init(http: Int32? = nil, https: Int32? = nil) {
            self.http = http
            self.https = https
        }
    }

    /// Binds the listeners, or takes over those a previous host handed over; returns the
    /// HTTP port it got (useful with port 0).
    @discardableResult
    public func start(inheriting inherited: InheritedListeners = InheritedListeners()) async throws -> Int {
        let context = self.context
        let tunnels = context.tunnels
        context.leases.onRevocation { tunnels.revoked($0) }
        let connections = self.connections
        let http = Self.bootstrap(group).childChannelInitializer { channel in
            connections.add(channel)
            return channel.eventLoop.makeCompletedFuture {
                try Self.serveHTTP1(on: channel, context: context, scheme: .http)
            }
        }
        let configuration = context.configuration
        let bound = try await listener.open(http, inheriting: inherited.http) { bootstrap in
            try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        }
        let port = bound.localAddress?.port ?? configuration.port
        context.logger.info("ingress listening", metadata: ["address": "\(configuration.host):\(port)"])
        if let certificates, let address = configuration.https {
            let tls = try TLSTermination(
                book: certificates,
                protocols: ["h2", "http/1.1"],
                closeTimeout: configuration.tlsCloseTimeout,
                challenges: context.challenges
            )
            let https = Self.bootstrap(group).childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(tls.handler())
                    try channel.pipeline.syncOperations.addHandler(TLSCloseEndsHalfClosure())
                    try channel.pipeline.syncOperations.addHandler(
                        TLSHandshakeGuard(
                            timeout: configuration.tlsHandshakeTimeout,
                            metrics: tls.book.metrics,
                            logger: context.logger
                        ) { channel, negotiated in
                            if negotiated == "h2" {
                                try Self.serveHTTP2(on: channel, context: context)
                            } else {
                                try Self.serveHTTP1(on: channel, context: context, scheme: .https)
                            }
                        }
                    )
                }
            }
            let boundHTTPS = try await httpsListener.open(https, inheriting: inherited.https) { bootstrap in
                try await bootstrap.bind(host: address.host, port: address.port).get()
            }
            let httpsPort = boundHTTPS.localAddress?.port ?? address.port
            context.httpsPort.withLockedValue { $0 = httpsPort }
            context.logger.info("ingress listening for HTTPS", metadata: ["address": "\(address.host):\(httpsPort)"])
        }
        return port
    }

    private static func bootstrap(_ group: any EventLoopGroup) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
    }

    /// HTTP/2 on a connection behind TLS: each stream its own exchange.
    private static func serveHTTP2(on channel: any Channel, context: IngressContext) throws {
        let settings = context.configuration
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: settings.h2MaxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: settings.maxHeaderBytes),
            HTTP2Setting(parameter: .initialWindowSize, value: settings.h2StreamWindowBytes),
        ]
        connection.targetWindowSize = 4 * settings.h2StreamWindowBytes
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = settings.h2StreamWindowBytes
        stream.streamResetFrameRateLimit.maximumCount = settings.h2MaxStreamResets
        stream.streamResetFrameRateLimit.windowLength = .seconds(30)
        let lifecycle = HTTP2ConnectionLifecycle(
            idleTimeout: settings.idleTimeout,
            logger: context.logger,
            metrics: context.metrics
        )
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server,
            connectionConfiguration: connection,
            streamConfiguration: stream,
            streamDelegate: HTTP2ConnectionLifecycle.Streams(
                lifecycle: NIOLoopBound(lifecycle, eventLoop: channel.eventLoop)
            )
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(
                    HTTP2StreamHandler(ingress: context, loop: context.loops.value(for: stream.eventLoop))
                )
            }
        }
        try channel.pipeline.syncOperations.addHandler(lifecycle)
    }

    /// HTTP/1.1 on a connection, in plain text or behind TLS.
    private static func serveHTTP1(on channel: any Channel, context: IngressContext, scheme: RequestScheme) throws {
        let services = context.loops.value(for: channel.eventLoop)
        let headGuard = RequestHeadGuard(configuration: context.configuration, timers: services.timers)
        try channel.pipeline.syncOperations.addHandler(headGuard)
        // Upgrades are proxied as ordinary requests (ExchangeDriver): a 101 from the sandbox
        // turns the connection into a tunnel, and the codec then forwards what it read past
        // the request.
        try channel.pipeline.syncOperations.addHandler(ClientCodec(limits: context.configuration.headLimits))
        try channel.pipeline.syncOperations.addHandler(
            ProxyHandler(ingress: context, loop: services, headGuard: headGuard, scheme: scheme)
        )
    }

    /// Stops accepting, lets every request in flight finish (its response says
    /// `Connection: close`), closes keep-alive connections once idle, and returns when all
    /// client connections are closed or at `deadline`. For a host handing over to the next.
    public func quiesce(deadline: Duration) async {
        await httpsListener.close()
        guard await listener.close() else { return }
        connections.quiesce()
        await connections.allClosed(within: deadline)
    }

    public func stop() async {
        await listener.close()
        await httpsListener.close()
    }

    /// Keeps the leases of the requests it serves until cancelled (after `stop` or
    /// `quiesce`), then gives them back.
    public func maintainLeases() async {
        await context.leases.run()
    }
}
