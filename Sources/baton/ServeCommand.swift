import ArgumentParser
import BatonHost
import BatonIngress
import BatonRPC
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the host: the launcher, the lease broker and the RPC socket for schedulers, routers and admins.",
        discussion: "SIGINT or SIGTERM shut it down gracefully and remove the socket.")

    @OptionGroup var socket: SocketOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Longest RPC line in bytes (rpc.maxLineBytes).")
    var rpcMaxLineBytes: Int?
    @Option(help: "Most RPC connections open at once (rpc.maxConnections).")
    var rpcMaxConnections: Int?
    @Option(help: "Most requests in flight per RPC connection (rpc.maxInFlight).")
    var rpcMaxInFlight: Int?
    @Option(help: "Messages queued for a client that does not read before it is disconnected (rpc.outboundQueue).")
    var rpcOutboundQueue: Int?
    @Option(help: "Milliseconds a client may leave its socket unread before it is disconnected (rpc.writeStallTimeoutMs).")
    var rpcWriteStallTimeoutMs: Int64?
    @Option(help: "Milliseconds a new connection has to send host.hello (rpc.helloTimeoutMs).")
    var rpcHelloTimeoutMs: Int64?
    @Option(name: .customLong("allow-uid"), help: "A peer uid allowed on the socket; repeat for more. Default: this process's uid and root.")
    var allowedUIDs: [UInt32] = []
    @Option(help: "Serve HTTP for the apps on HOST:PORT, for example 127.0.0.1:8080.")
    var http: String?
    @Option(help: "Serve Prometheus metrics on HOST:PORT at /metrics, for example 127.0.0.1:9100.")
    var metrics: String?
    @Option(help: "The app that serves hosts no route names.")
    var defaultApp: String?
    @OptionGroup var ingressLimits: IngressLimitOptions
    @Option(help: "Event loop threads for the socket and the ingress. Default: one per core.")
    var eventLoops: Int?
    @Option(help: "The scheduler (by the name it gives at hello) that runs services which name none. Default: the only one connected.")
    var defaultScheduler: String?
    @Option(name: .customLong("token-file"), help: "ROLE=PATH: the role must present the token in PATH at hello; repeatable.")
    var tokenFiles: [String] = []

    func run() async throws {
        let logger = logging.bootstrap()
        let configuration: HostConfiguration
        do {
            configuration = try makeConfiguration()
        } catch {
            printError("\(error)", command: "serve")
            throw ExitCode.failure
        }
        let eventLoopGroup: any EventLoopGroup =
            eventLoops.map { MultiThreadedEventLoopGroup(numberOfThreads: max(1, $0)) } ?? MultiThreadedEventLoopGroup.singleton
        let host = BatonHost(configuration: configuration, logger: logger, group: eventLoopGroup)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [host], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            printError("\(error)", command: "serve")
            throw ExitCode.failure
        }
    }

    private func makeConfiguration() throws -> HostConfiguration {
        var configuration = HostConfiguration(socketPath: socket.socket)
        if let value = rpcMaxLineBytes { configuration.rpc.maxLineBytes = try positive(value, "--rpc-max-line-bytes") }
        if let value = rpcMaxConnections { configuration.rpc.maxConnections = try positive(value, "--rpc-max-connections") }
        if let value = rpcMaxInFlight { configuration.rpc.maxInFlight = try positive(value, "--rpc-max-in-flight") }
        if let value = rpcOutboundQueue { configuration.rpc.outboundQueue = try positive(value, "--rpc-outbound-queue") }
        if let value = rpcWriteStallTimeoutMs {
            configuration.rpc.writeStallTimeout = .milliseconds(Int64(try positive(Int(value), "--rpc-write-stall-timeout-ms")))
        }
        if let value = rpcHelloTimeoutMs {
            configuration.rpc.helloTimeout = .milliseconds(Int64(try positive(Int(value), "--rpc-hello-timeout-ms")))
        }
        if !allowedUIDs.isEmpty { configuration.rpc.allowedUIDs = Set(allowedUIDs) }
        configuration.defaultScheduler = defaultScheduler
        if let metrics {
            configuration.metricsAddress = try Self.address(metrics, flag: "--metrics")
        }
        if let http {
            let (host, port) = try Self.address(http, flag: "--http")
            var ingress = IngressConfiguration(host: host, port: port)
            ingress.defaultApp = defaultApp
            try ingressLimits.apply(to: &ingress)
            configuration.ingress = ingress
        }
        for entry in tokenFiles {
            guard let equals = entry.firstIndex(of: "="),
                let role = RPCRole(rawValue: String(entry[..<equals]))
            else {
                throw ValidationError("--token-file takes ROLE=PATH with ROLE one of scheduler, router, admin; got \(entry)")
            }
            try configuration.requireToken(for: role, fromFile: String(entry[entry.index(after: equals)...]))
        }
        return configuration
    }

    private static func address(_ text: String, flag: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("\(flag) takes HOST:PORT, for example 127.0.0.1:8080; got \(text)")
        }
        return (String(text[..<colon]), port)
    }

    private func positive(_ value: Int, _ flag: String) throws -> Int {
        guard value > 0 else { throw ValidationError("\(flag) must be positive; got \(value)") }
        return value
    }
}
