import BatonRPC
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The host process's parts, wired together. It runs as one swift-service-lifecycle
/// service: started, it listens; on graceful shutdown it closes every connection and
/// removes its socket.
public final class BatonHost: Service, Sendable {
    public let rpcServer: RPCServer
    private let logger: Logger

    public init(
        configuration: HostConfiguration, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.logger = logger
        self.rpcServer = RPCServer(
            configuration: configuration.rpc, methods: RPCMethodTable(HostMethods.all), logger: logger,
            group: group)
    }

    /// Starts listening; used directly by tests, and by `run()`.
    public func start() async throws {
        try await rpcServer.start()
    }

    public func stop() async {
        await rpcServer.stop()
    }

    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        logger.info("shutting down")
        await stop()
    }
}
