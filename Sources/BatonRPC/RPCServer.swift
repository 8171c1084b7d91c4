import BatonJSON
import BatonListening
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// What every connection of one server shares: configuration, methods, and the set of
/// open connections (for the connection limit and for shutdown).
final class RPCServerState: Sendable {
    let configuration: RPCServerConfiguration
    let methods: RPCMethodTable
    let logger: Logger
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    private let nextConnection = NIOLockedValueBox<Int>(0)

    init(configuration: RPCServerConfiguration, methods: RPCMethodTable, logger: Logger) {
        self.configuration = configuration
        self.methods = methods
        self.logger = logger
    }

    /// Registers a connection unless the limit is reached; returns its number.
    func admit(_ channel: any Channel) -> Int? {
        let admitted = connections.withLockedValue { open -> Bool in
            guard open.count < configuration.maxConnections else { return false }
            open[ObjectIdentifier(channel)] = channel
            return true
        }
        guard admitted else { return nil }
        channel.closeFuture.whenComplete { [self] _ in
            _ = connections.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        return nextConnection.withLockedValue { number in
            number += 1
            return number
        }
    }

    var openConnections: [any Channel] { connections.withLockedValue { Array($0.values) } }
}

/// A JSON-RPC 2.0 server on a unix socket, one message per line. Peers are checked
/// with SO_PEERCRED before anything is read from them.
public final class RPCServer: Sendable {
    private let state: RPCServerState
    private let group: any EventLoopGroup
    private let listener = Listener()
    /// The socket file this server made, so that it removes only its own.
    private let socketInode = NIOLockedValueBox<UInt64?>(nil)

    public init(
        configuration: RPCServerConfiguration,
        methods: RPCMethodTable,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.state = RPCServerState(configuration: configuration, methods: methods, logger: logger)
        self.group = group
    }

    public var configuration: RPCServerConfiguration { state.configuration }

    /// The names of the methods this server answers, besides `host.hello`.
    public var methodNames: [String] { state.methods.names }

    /// Binds the socket, or takes over `inherited`, the listening socket a previous host
    /// handed over at the same path; throws with a clear message when the path cannot be used.
    public func start(inheriting inherited: Int32? = nil) async throws {
        let path = state.configuration.socketPath
        let state = self.state
        let bootstrap = ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                RPCServer.initialize(channel, state: state)
            }
        try await listener.open(bootstrap, inheriting: inherited) { bootstrap in
            try UnixSocketFile.prepare(path)
            return try await bootstrap.withBoundSocket(try UnixSocketFile.listen(path, backlog: 256)).get()
        }
        socketInode.withLockedValue { $0 = UnixSocketFile.inode(of: path) }
        state.logger.info("rpc socket listening", metadata: ["socket": "\(path)"])
    }

    /// Stops accepting, closes every connection and removes the socket file, unless the next
    /// host took it over (`removingSocket` false).
    public func stop(removingSocket: Bool = true) async {
        guard await listener.close() else { return }
        for connection in state.openConnections {
            try? await connection.close()
        }
        if removingSocket {
            UnixSocketFile.remove(state.configuration.socketPath, inode: socketInode.withLockedValue { $0 })
        }
        state.logger.info("rpc socket closed", metadata: ["socket": "\(state.configuration.socketPath)"])
    }

    /// Completes when the listening socket closes.
    public var closed: EventLoopFuture<Void>? { listener.closed }

    private static func initialize(_ channel: any Channel, state: RPCServerState) -> EventLoopFuture<Void> {
        PeerCredentials.read(from: channel).flatMap { peer in
            channel.eventLoop.makeCompletedFuture {
                let configuration = state.configuration
                var logger = state.logger
                logger[metadataKey: "peer"] = "\(peer)"
                let pipeline = channel.pipeline.syncOperations
                guard configuration.allowedUIDs.contains(peer.uid) else {
                    logger.warning("refused peer: uid not allowed")
                    try pipeline.addHandler(
                        RefusalHandler(
                            error: .unauthorized(
                                "uid \(peer.uid) may not use this socket (allowed: \(configuration.allowedUIDs.sorted().map(String.init).joined(separator: ", ")))"
                            )
                        )
                    )
                    return
                }
                guard let number = state.admit(channel) else {
                    logger.warning("refused peer: connection limit reached")
                    try pipeline.addHandler(
                        RefusalHandler(
                            error: .limitExceeded(
                                "the host already has \(configuration.maxConnections) connections",
                                setting: "rpc.maxConnections",
                                limit: configuration.maxConnections
                            )
                        )
                    )
                    return
                }
                logger[metadataKey: "connection"] = "\(number)"
                logger.debug("connection opened")
                try pipeline.addHandler(
                    ByteToMessageHandler(LineFrameDecoder(maxLineBytes: configuration.maxLineBytes))
                )
                try pipeline.addHandler(RPCConnectionHandler(server: state, peer: peer, logger: logger))
            }
        }
    }
}

/// Answers a connection that may not stay with one error line, then closes it.
private final class RefusalHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let error: RPCError

    init(error: RPCError) {
        self.error = error
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(context: ChannelHandlerContext) {
        var line = (try? RPCEnvelope.error(error, id: .null).serialized()) ?? []
        line.append(UInt8(ascii: "\n"))
        let buffer = context.channel.allocator.buffer(bytes: line)
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
