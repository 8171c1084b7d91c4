import ArgumentParser
import BatonACME
import BatonCluster
import BatonHost
import BatonIngress
import BatonPlugins
import BatonProtocol
import BatonRPC
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the host: the launcher, the lease broker and the RPC socket for schedulers, routers and admins.",
        discussion: "SIGINT or SIGTERM shut it down gracefully and remove the socket."
    )

    @OptionGroup var socket: SocketOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "A JSON config file with the same settings as these flags; a flag given here wins over the file.")
    var config: String?
    @Option(
        help:
            "Where the host and its plugins keep their files (default /var/lib/baton for root, else $XDG_STATE_HOME/baton or ~/.local/state/baton)."
    )
    var state: String?
    @Flag(
        help:
            "Start no plugins, not even the built-in process scheduler, so that an outside scheduler can take its place."
    )
    var noPlugins = false
    @Flag(
        help:
            "Take over from the host running on the same --state, if any: its listening sockets pass to this one, so no connection is refused; it then lets its requests in flight finish and exits."
    )
    var takeOver = false
    @Flag(
        help:
            "Stop every sandbox before exiting. Without it sandboxes keep running, and the next host on the same --state takes them back."
    )
    var stopSandboxesAtExit = false
    @Option(
        name: .customLong("set"),
        help: "NAME=VALUE: a numeric setting, as `baton settings` lists them; repeatable. It wins over the config file."
    )
    var settings: [String] = []
    @Option(
        name: .customLong("allow-uid"),
        help: "A peer uid allowed on the socket; repeat for more. Default: this process's uid and root."
    )
    var allowedUIDs: [UInt32] = []
    @Option(help: "Serve HTTP for the apps on HOST:PORT, for example 127.0.0.1:8080 (:80 is every address).")
    var http: String?
    @Option(
        help:
            "Serve HTTPS for the apps on HOST:PORT, with the certificate each route names (needs --http), for example :443."
    )
    var https: String?
    @Option(help: "The contact the ACME server may write to about the account (routes with tls \"acme\").")
    var acmeEmail: String?
    @Option(help: "The ACME server's directory URL. Default: Let's Encrypt's production directory.")
    var acmeDirectory: String?
    @Option(help: "A PEM file of the roots the ACME server's own certificate is checked against (a private server).")
    var acmeCaRoot: String?
    @Option(help: "Serve Prometheus metrics on HOST:PORT at /metrics, for example 127.0.0.1:9100.")
    var metrics: String?
    @Option(help: "The app that serves hosts no route names.")
    var defaultApp: String?
    @Option(help: "Event loop threads for the socket and the ingress. Default: one per core.")
    var eventLoops: Int?
    @Option(
        help:
            "The scheduler (by the name it gives at hello) that runs services which name none. Default: the only one connected."
    )
    var defaultScheduler: String?
    @Option(
        help:
            "Be a node of the cluster whose state lives in these etcd endpoints (comma-separated URLs, for example http://127.0.0.1:2379); see docs/cluster.md."
    )
    var cluster: String?
    @Option(help: "This node's name in the cluster, unique among its nodes. Default: the machine's host name.")
    var node: String?
    @Option(help: "Where the cluster's keys live in etcd. Default: /baton/.")
    var clusterPrefix: String?
    @Option(
        name: .customLong("token-file"),
        help: "ROLE=PATH: the role must present the token in PATH at hello; repeatable."
    )
    var tokenFiles: [String] = []

    func run() async throws {
        let logger = logging.bootstrap()
        let configuration: HostConfiguration
        let file: ConfigFile
        do {
            file = try config.map { path throws(ConfigFile.Problem) in try ConfigFile.load(path) } ?? ConfigFile()
            configuration = try makeConfiguration(file)
        } catch {
            printError("\(error)", command: "serve")
            throw ExitCode.failure
        }
        let eventLoopGroup: any EventLoopGroup =
            (eventLoops ?? file.eventLoops).map { MultiThreadedEventLoopGroup(numberOfThreads: max(1, $0)) }
            ?? MultiThreadedEventLoopGroup.singleton
        let host = BatonHost(configuration: configuration, logger: logger, group: eventLoopGroup)
        do {
            try await host.prepare()
            // The group also ends by itself once the host handed over to the next one.
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: host.services,
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        } catch {
            printError("\(error)", command: "serve")
            throw ExitCode.failure
        }
    }

    /// The `--set` flags, by setting name.
    private func givenSettings() throws -> [String: Int64] {
        var given: [String: Int64] = [:]
        for entry in settings {
            guard let equals = entry.firstIndex(of: "="), let value = Int64(entry[entry.index(after: equals)...]) else {
                throw ValidationError(
                    "--set takes NAME=VALUE with a whole number, for example --set ingress.maxRetries=1; got \(entry)"
                )
            }
            given[String(entry[..<equals])] = value
        }
        return given
    }

    /// Where ACME certificates come from: the flags, else the file, else Let's Encrypt.
    private func acme(_ file: ConfigFile) throws -> ACMEConfiguration {
        let directory = acmeDirectory ?? file.acmeDirectory ?? ACMEConfiguration.letsEncrypt
        guard directory.hasPrefix("https://") else {
            throw ValidationError("--acme-directory must be an https:// URL (RFC 8555 §6.1); got \(directory)")
        }
        let email = acmeEmail ?? file.acmeEmail
        if let email, !email.contains("@") || email.contains(where: { $0 == " " || $0 == "," || !$0.isASCII }) {
            throw ValidationError("--acme-email must be one address such as ops@example.com; got \(email)")
        }
        let root = acmeCaRoot ?? file.acmeCaRoot
        if let root, !FileManager.default.isReadableFile(atPath: root) {
            throw ValidationError("--acme-ca-root: cannot read \(root)")
        }
        return ACMEConfiguration(directoryURL: directory, email: email, caRootFile: root)
    }

    private func makeConfiguration(_ file: ConfigFile) throws -> HostConfiguration {
        var configuration = HostConfiguration(socketPath: socket.given ?? file.socket ?? SocketLocation.defaultPath())
        if let http = http ?? file.http {
            let (host, port) = try Self.address(http, flag: "--http")
            configuration.ingress = IngressConfiguration(host: host, port: port)
            configuration.ingress?.defaultApp = defaultApp ?? file.defaultApp
            if let https = https ?? file.https {
                let (host, port) = try Self.address(https, flag: "--https")
                configuration.ingress?.https = ListenAddress(host: host, port: port)
            }
            configuration.acme = try acme(file)
        } else if https ?? file.https != nil {
            throw ValidationError("--https needs --http: redirects to HTTPS and ACME's challenges are answered there")
        }
        for (name, value) in file.settings.merging(try givenSettings(), uniquingKeysWith: { $1 }).sorted(by: {
            $0.key < $1.key
        }) {
            do throws(SettingRefused) {
                try Setting.named(name).apply(value, to: &configuration)
            } catch {
                throw ValidationError(error.description)
            }
        }
        if !allowedUIDs.isEmpty { configuration.rpc.allowedUIDs = Set(allowedUIDs) }
        configuration.defaultScheduler = defaultScheduler ?? file.defaultScheduler
        if let metrics = metrics ?? file.metrics {
            configuration.metricsAddress = try Self.address(metrics, flag: "--metrics")
        }
        configuration.stateDirectory = state ?? file.state ?? configuration.stateDirectory
        configuration.keepsState = true
        configuration.stopsSandboxesAtExit = stopSandboxesAtExit
        configuration.takesOver = takeOver
        configuration.routes = file.routes
        if let endpoints = cluster ?? file.cluster {
            configuration.cluster = ClusterConfiguration(
                endpoints: endpoints.split(separator: ",").map { String($0) },
                node: node ?? file.node ?? ProcessInfo.processInfo.hostName,
                keys: ClusterKeys(prefix: clusterPrefix ?? file.clusterPrefix ?? ClusterKeys.defaultPrefix)
            )
        }
        if !noPlugins {
            configuration.plugins = file.plugins ?? [Self.builtInScheduler]
        }
        for entry in tokenFiles {
            guard let equals = entry.firstIndex(of: "="),
                let role = RPCRole(rawValue: String(entry[..<equals]))
            else {
                throw ValidationError(
                    "--token-file takes ROLE=PATH with ROLE one of scheduler, router, admin; got \(entry)"
                )
            }
            try configuration.requireToken(for: role, fromFile: String(entry[entry.index(after: equals)...]))
        }
        return configuration
    }

    /// The process scheduler, from the executable built next to this one.
    static var builtInScheduler: PluginSpec {
        PluginSpec(
            name: "process",
            role: "scheduler",
            command: ChildCommand(command: siblingExecutable("baton-process-scheduler"))
        )
    }

    static func siblingExecutable(_ name: String) -> String {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return ((me as NSString).deletingLastPathComponent as NSString).appendingPathComponent(name)
    }

    private static func address(_ text: String, flag: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ValidationError("\(flag) takes HOST:PORT, for example 127.0.0.1:8080; got \(text)")
        }
        let host = text[..<colon]
        return (host.isEmpty ? "0.0.0.0" : String(host), port)
    }

}
