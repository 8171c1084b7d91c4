import BatonCore
import BatonIngress
import BatonRPC
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The host process's parts, wired together: the lease broker, the launcher, and the
/// RPC socket that serves them. It runs as one swift-service-lifecycle service: started,
/// it listens; on graceful shutdown it closes every connection and removes its socket.
public final class BatonHost: Service, Sendable {
    public let rpcServer: RPCServer
    public let broker: LeaseBroker
    public let launcher: Launcher
    public let ingress: IngressServer?
    private let leaseCache: LeaseCache?
    private let routes: RouteTable
    private let logger: Logger

    public init(
        configuration: HostConfiguration, logger: Logger, clock: any CoreClock = SystemClock(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.logger = logger
        broker = LeaseBroker(clock: clock, probe: NetworkReadinessProbe(group: group), logger: logger)
        let routes = RouteTable(defaultApp: configuration.ingress?.defaultApp)
        self.routes = routes
        launcher = Launcher(
            broker: broker, clock: clock, defaultScheduler: configuration.defaultScheduler, logger: logger,
            routesChanged: { routes.replace(with: $0) })
        let methods =
            HostMethods.all + AdminMethods.all(launcher: launcher, clock: clock)
            + SchedulerMethods.all(launcher: launcher, broker: broker) + RouterMethods.all(broker: broker)
        rpcServer = RPCServer(configuration: configuration.rpc, methods: RPCMethodTable(methods), logger: logger, group: group)
        if let ingressConfiguration = configuration.ingress {
            let cache = LeaseCache(broker: broker, slotsPerLease: ingressConfiguration.leaseSlots, logger: logger)
            leaseCache = cache
            ingress = IngressServer(configuration: ingressConfiguration, routes: routes, leases: cache, logger: logger, group: group)
        } else {
            leaseCache = nil
            ingress = nil
        }
    }

    /// Starts listening; used directly by tests, and by `run()`.
    public func start() async throws {
        await launcher.start()
        try await rpcServer.start()
        leaseCache?.start()
        try await ingress?.start()
    }

    public func stop() async {
        await ingress?.stop()
        await leaseCache?.stop()
        await rpcServer.stop()
        await launcher.stop()
    }

    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        logger.info("shutting down")
        await stop()
    }
}
