import BatonCore
import BatonProbe
import BatonIngress
import BatonPlugins
import Foundation
import NIOConcurrencyHelpers
import BatonRPC
import BatonStore
import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The host process's parts, wired together: the lease broker, the launcher, and the
/// RPC socket that serves them. It runs as one swift-service-lifecycle service: started,
/// it listens; on graceful shutdown it closes every connection and removes its socket.
public final class BatonHost: Service, Sendable {
    public let rpcServer: RPCServer
    public let broker: LeaseBroker
    public let launcher: Launcher
    public let ingress: IngressServer?
    public let metrics: MetricsServer?
    /// Everything the host counts, whether or not it is served.
    public let registry: PrometheusCollectorRegistry
    private let leaseCache: LeaseCache?
    private let drainTimes: DrainTimes
    private let routes: RouteTable
    let logger: Logger
    private let plugins: PluginSupervisor
    private let pluginsRunning = NIOLockedValueBox<Task<Void, Never>?>(nil)
    private let bootstrapRoutes: [(host: String, app: String)]
    private let stateDirectory: String?
    private let stopsSandboxesAtExit: Bool
    let handover: HandoverState
    /// Held from start to stop: one host per state directory.
    private let stateLock = NIOLockedValueBox<DirectoryLock?>(nil)
    private let store = NIOLockedValueBox<SQLiteStore?>(nil)

    public init(
        configuration: HostConfiguration, logger: Logger, clock: any CoreClock = SystemClock(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.logger = logger
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        broker = LeaseBroker(clock: clock, probe: NetworkReadinessProbe(group: group), logger: logger,
            leaseTTL: .milliseconds(configuration.leaseTTLMs),
            readinessGate: configuration.readinessGate)
        let routes = RouteTable(defaultApp: configuration.ingress?.defaultApp.map(AppName.init(rawValue:)))
        self.routes = routes
        launcher = Launcher(
            broker: broker, clock: clock, defaultScheduler: configuration.defaultScheduler, logger: logger,
            routesChanged: { routes.replace(with: $0) },
            streamDrain: configuration.ingress.map {
                // The ingress closes streams by its deadline plus jitter; the pool waits a little longer.
                .nanoseconds(($0.streamDrainDeadline + $0.streamCloseJitter).nanoseconds) + .seconds(30)
            } ?? Launcher.defaultStreamDrain, readinessGate: configuration.readinessGate)
        let ingressMetrics = IngressMetrics(factory: PrometheusMetricsFactory(registry: registry))
        if let ingressConfiguration = configuration.ingress {
            let cache = LeaseCache(
                broker: broker, clock: clock, slotsPerLease: ingressConfiguration.leaseSlots, logger: logger, metrics: ingressMetrics)
            leaseCache = cache
            ingress = IngressServer(
                configuration: ingressConfiguration, routes: routes, leases: cache, logger: logger, metrics: ingressMetrics,
                group: group)
        } else {
            leaseCache = nil
            ingress = nil
        }
        var methods =
            HostMethods.all + AdminMethods.all(launcher: launcher, clock: clock)
            + SchedulerMethods.all(launcher: launcher, broker: broker) + RouterMethods.all(broker: broker)
        if let ingress, let ingressConfiguration = configuration.ingress {
            methods += IngressMethods.all(ingress: ingress, defaultTimeout: ingressConfiguration.responseHeaderTimeout)
        }
        rpcServer = RPCServer(configuration: configuration.rpc, methods: RPCMethodTable(methods), logger: logger, group: group)
        metrics = configuration.metricsAddress.map { MetricsServer(registry: registry, host: $0.host, port: $0.port, group: group) }
        drainTimes = DrainTimes(factory: PrometheusMetricsFactory(registry: registry), logger: logger)
        bootstrapRoutes = configuration.routes
        stateDirectory = configuration.keepsState ? configuration.stateDirectory : nil
        stopsSandboxesAtExit = configuration.stopsSandboxesAtExit
        handover = HandoverState(
            takesOver: configuration.takesOver, drain: configuration.handoverDrain,
            ingressAddress: configuration.ingress.map { "\($0.host):\($0.port)" },
            metricsAddress: configuration.metricsAddress.map { "\($0.host):\($0.port)" })
        let tokens = configuration.rpc.roleTokens
        plugins = PluginSupervisor(
            plugins: configuration.plugins,
            environment: [
                "BATON_SOCKET": Self.absolute(configuration.rpc.socketPath),
                "BATON_STATE_DIR": Self.absolute(configuration.stateDirectory),
            ],
            token: { role in RPCRole(rawValue: role).flatMap { tokens[$0] } }, logger: logger)
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Starts listening; used directly by tests, and by `run()`.
    public func start() async throws {
        var inherited: [HandedListener] = []
        if let stateDirectory {
            try Self.makeStateDirectory(stateDirectory)
            if handover.takesOver { inherited = try await HandoffClient.takeOver(path: handover.socketPath(in: stateDirectory), logger: logger) }
            try await openState(stateDirectory, wait: inherited.isEmpty ? .zero : .seconds(10))
        }
        await launcher.start()
        drainTimes.follow(launcher.events)
        try await rpcServer.start(inheriting: HandoverState.take("rpc", at: rpcServer.configuration.socketPath, from: &inherited))
        leaseCache?.start()
        try await ingress?.start(inheriting: HandoverState.take("http", at: handover.ingressAddress, from: &inherited))
        try await metrics?.start(logger: logger, inheriting: HandoverState.take("metrics", at: handover.metricsAddress, from: &inherited))
        for unused in inherited { close(unused.descriptor) }
        for route in bootstrapRoutes {
            do {
                try await launcher.setRoute(host: route.host, app: AppName(route.app), allowingUnknownApp: true)
            } catch {
                logger.error("route not set", metadata: ["host": "\(route.host)", "app": "\(route.app)", "error": "\(error)"])
            }
        }
        let plugins = plugins
        pluginsRunning.withLockedValue { $0 = Task { await plugins.run() } }
        if let stateDirectory { try startHandoff(in: stateDirectory) }
    }

    public func stop() async {
        handover.stopServing()
        let handedOver = handover.handedOver
        // Sandboxes and plugins first, while the socket still takes the reports of what stops.
        if stopsSandboxesAtExit && !handedOver { await launcher.stopAllSandboxes(timeout: .seconds(30)) }
        await stopPlugins()
        await metrics?.stop()
        drainTimes.stop()
        await ingress?.stop()
        await leaseCache?.stop()
        await rpcServer.stop(removingSocket: !handedOver)
        await launcher.stop()
        await releaseState()
    }

    func stopPlugins() async {
        if let running = pluginsRunning.withLockedValue({ $0 }) {
            running.cancel()
            await running.value
        }
    }

    /// Closes the store and lets go of the state directory, for the next host.
    func releaseState() async {
        await store.withLockedValue { $0 }?.close()
        stateLock.withLockedValue { $0?.release() }
    }

    private static func makeStateDirectory(_ directory: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreProblem("cannot create the state directory \(directory): \(error)")
        }
    }

    /// Takes the state directory's lock, opens the store and brings its state back, before
    /// the socket or the ingress take anyone in.
    private func openState(_ directory: String, wait: Duration) async throws {
        let lock = try await DirectoryLock.acquire(
            directory: directory, file: "baton.lock", holder: "baton serve", wait: wait)
        stateLock.withLockedValue { $0 = lock }
        let store = try SQLiteStore(directory: directory)
        self.store.withLockedValue { $0 = store }
        try await launcher.restore(from: store)
        logger.info("state opened", metadata: ["path": "\(store.path)"])
    }

    /// Serves until a graceful shutdown signal, or until it has handed over to the next host
    /// and its requests in flight have finished.
    public func run() async throws {
        try await start()
        let handover = self.handover
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await gracefulShutdown() }
            group.addTask { await handover.finished() }
            await group.next()
            group.cancelAll()
        }
        logger.info("shutting down")
        await stop()
    }
}
