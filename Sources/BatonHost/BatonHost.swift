import BatonACME
import BatonCluster
import BatonCore
import BatonIngress
import BatonPlugins
import BatonProbe
import BatonRPC
import BatonStore
import BatonTLS
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The host process's parts, wired together: the lease broker, the launcher, the RPC
/// socket, the ingress, the metrics endpoint and the plugins. `prepare()` takes the state
/// back; `services` are the parts a `ServiceGroup` then runs, in start order, and shuts
/// down in reverse, on a signal or when the next host takes over.
public final class BatonHost: Sendable {
    public let rpcServer: RPCServer
    public let broker: LeaseBroker
    public let launcher: Launcher
    public let ingress: IngressServer?
    public let metrics: MetricsServer?
    /// This host's part in a cluster, when it is a node of one: the state lives in etcd.
    public let cluster: ClusterNode?
    /// Everything the host counts, whether or not it is served.
    public let registry: PrometheusCollectorRegistry
    let drainTimes: DrainTimes
    private let routes: RouteTable
    /// The certificates HTTPS serves, when the ingress serves HTTPS.
    public let certificates: CertificateBook?
    /// Certificates over ACME for routes with `tls: "acme"`, when the ingress serves HTTPS.
    public let acme: ACMEService?
    /// The ACME challenges the ingress answers while an order has them open.
    public let challenges = ChallengeBoard()
    /// How often certificate files are looked at for a change, and ACME renewals for being due.
    let certificateCheckMs: Int64
    let logger: Logger
    let plugins: PluginSupervisor
    private let bootstrapRoutes: [RouteSpec]
    let stateDirectory: String?
    let stopsSandboxesAtExit: Bool
    let handover: HandoverState
    /// Held from start to stop: one host per state directory.
    private let stateLock = NIOLockedValueBox<DirectoryLock?>(nil)
    private let store = NIOLockedValueBox<SQLiteStore?>(nil)
    /// Listeners the previous host handed over, by the part that takes each.
    let inherited = NIOLockedValueBox(InheritedListeners())
    let rpcListening = Milestone()
    let ingressListening = Milestone()
    let metricsListening = Milestone()

    public init(
        configuration: HostConfiguration,
        logger: Logger,
        clock: any CoreClock = SystemClock(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.logger = logger
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        broker = LeaseBroker(
            clock: clock,
            probe: NetworkReadinessProbe(group: group),
            logger: logger,
            leaseTTL: .milliseconds(configuration.leaseTTLMs),
            readinessGate: configuration.readinessGate
        )
        let routes = RouteTable(defaultApp: configuration.ingress?.defaultApp.map(AppName.init(rawValue:)))
        self.routes = routes
        let certificates = configuration.ingress?.https.map { _ in
            CertificateBook(logger: logger, metrics: TLSMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        }
        self.certificates = certificates
        certificateCheckMs = configuration.certificateCheckMs
        let challenges = self.challenges
        let acme = certificates.map {
            ACMEService(
                configuration: configuration.acme,
                stateDirectory: configuration.stateDirectory,
                certificates: $0,
                challenges: challenges,
                checkInterval: .milliseconds(configuration.certificateCheckMs),
                logger: logger,
                metrics: ACMEMetrics(factory: PrometheusMetricsFactory(registry: registry))
            )
        }
        self.acme = acme
        launcher = Launcher(
            broker: broker,
            clock: clock,
            defaultScheduler: configuration.defaultScheduler,
            logger: logger,
            routesChanged: { changed in
                routes.replace(with: changed)
                certificates?.serve(changed.values)
                acme?.want(Set(changed.values.filter { $0.tls == .acme }.map(\.host)))
            },
            streamDrain: configuration.ingress.map {
                // The ingress closes streams by its deadline plus jitter; the pool waits a little longer.
                .nanoseconds(($0.streamDrainDeadline + $0.streamCloseJitter).nanoseconds) + .seconds(30)
            } ?? Launcher.defaultStreamDrain,
            readinessGate: configuration.readinessGate,
            role: configuration.cluster == nil ? .leading : .following(why: "it has not joined its cluster yet")
        )
        let (broker, launcher) = (self.broker, self.launcher)
        let ingressMetrics = IngressMetrics(factory: PrometheusMetricsFactory(registry: registry))
        ingress = configuration.ingress.map {
            IngressServer(
                configuration: $0,
                routes: routes,
                broker: broker,
                clock: clock,
                logger: logger,
                metrics: ingressMetrics,
                certificates: certificates,
                challenges: acme.map { _ in challenges },
                group: group
            )
        }
        let ingress = self.ingress
        cluster = configuration.cluster.map { given in
            var cluster = given
            cluster.leaseTTL = .milliseconds(configuration.clusterLeaseTTLMs)
            cluster.requestTimeout = .milliseconds(configuration.clusterRequestTimeoutMs)
            return ClusterNode(
                configuration: cluster,
                launcher: launcher,
                broker: broker,
                logger: logger,
                inFlight: { ingress?.requestsInFlight() ?? [:] },
                runForwarded: AdminMethods.runForwarded(launcher: launcher)
            )
        }
        var methods =
            HostMethods.all
            + AdminMethods.all(
                launcher: launcher,
                clock: clock,
                cluster: cluster,
                certificates: certificates,
                acme: acme
            )
            + SchedulerMethods.all(launcher: launcher, broker: broker, cluster: cluster)
            + RouterMethods.all(broker: broker)
        if let ingress, let ingressConfiguration = configuration.ingress {
            methods += IngressMethods.all(ingress: ingress, defaultTimeout: ingressConfiguration.responseHeaderTimeout)
        }
        rpcServer = RPCServer(
            configuration: configuration.rpc,
            methods: RPCMethodTable(methods),
            logger: logger,
            group: group
        )
        metrics = configuration.metricsAddress.map {
            MetricsServer(registry: registry, host: $0.host, port: $0.port, group: group)
        }
        drainTimes = DrainTimes(factory: PrometheusMetricsFactory(registry: registry), logger: logger)
        bootstrapRoutes = configuration.routes
        stateDirectory = configuration.keepsState ? configuration.stateDirectory : nil
        stopsSandboxesAtExit = configuration.stopsSandboxesAtExit
        handover = HandoverState(
            takesOver: configuration.takesOver,
            drain: configuration.handoverDrain,
            ingressAddress: configuration.ingress.map { "\($0.host):\($0.port)" },
            httpsAddress: configuration.ingress?.https.map { "\($0.host):\($0.port)" },
            metricsAddress: configuration.metricsAddress.map { "\($0.host):\($0.port)" }
        )
        let tokens = configuration.rpc.roleTokens
        plugins = PluginSupervisor(
            plugins: configuration.plugins,
            environment: [
                "BATON_SOCKET": Self.absolute(configuration.rpc.socketPath),
                "BATON_STATE_DIR": Self.absolute(configuration.stateDirectory),
                "BATON_HOST_PID": "\(getpid())",
            ],
            token: { role in RPCRole(rawValue: role).flatMap { tokens[$0] } },
            logger: logger
        )
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Takes over from a running host when asked to, opens the state directory and brings
    /// the state back, and sets the configured routes: all before anyone is let in.
    public func prepare() async throws {
        if let stateDirectory {
            try Self.makeStateDirectory(stateDirectory)
            var handed: [HandedListener] = []
            if handover.takesOver {
                handed = try await HandoffClient.takeOver(path: handover.socketPath(in: stateDirectory), logger: logger)
            }
            let tookOver = !handed.isEmpty
            inherited.withLockedValue { listeners in
                listeners.rpc = HandoverState.take("rpc", at: rpcServer.configuration.socketPath, from: &handed)
                listeners.http = HandoverState.take("http", at: handover.ingressAddress, from: &handed)
                listeners.https = HandoverState.take("https", at: handover.httpsAddress, from: &handed)
                listeners.metrics = HandoverState.take("metrics", at: handover.metricsAddress, from: &handed)
            }
            for unused in handed { close(unused.descriptor) }
            do {
                try await openState(stateDirectory, wait: tookOver ? .seconds(10) : .zero)
            } catch {
                await releaseState()
                throw error
            }
        }
        for route in bootstrapRoutes {
            do {
                try await launcher.setRoute(route, allowingUnknownApp: true)
            } catch {
                logger.error(
                    "route not set",
                    metadata: ["route": "\(route.key)", "app": "\(route.app)", "error": "\(error)"]
                )
            }
        }
    }

    /// Returns once every listener is bound: the socket, and the ingress and metrics
    /// endpoints when configured.
    public func listening() async {
        await rpcListening.reached()
        if ingress != nil { await ingressListening.reached() }
        if metrics != nil { await metricsListening.reached() }
    }

    /// Closes the store and lets go of the state directory, for the next host.
    func releaseState() async {
        await store.withLockedValue { $0 }?.close()
        stateLock.withLockedValue { $0?.release() }
    }

    private static func makeStateDirectory(_ directory: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw StoreProblem("cannot create the state directory \(directory): \(error)")
        }
    }

    /// Takes the state directory's lock, opens the store and brings its state back, before
    /// the socket or the ingress take anyone in.
    private func openState(_ directory: String, wait: Duration) async throws {
        let lock = try await DirectoryLock.acquire(
            directory: directory,
            file: "baton.lock",
            holder: "baton serve",
            wait: wait
        )
        stateLock.withLockedValue { $0 = lock }
        if let cluster {
            // The state is the cluster's, in etcd: the node reads it once it runs.
            logger.info("state kept in the cluster", metadata: ["etcd": "\(cluster.configuration.endpoints)"])
            return
        }
        let store = try SQLiteStore(directory: directory)
        self.store.withLockedValue { $0 = store }
        try await launcher.restore(from: store)
        logger.info("state opened", metadata: ["path": "\(store.path)"])
    }
}
