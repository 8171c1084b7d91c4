import ArgumentParser
import BatonHost
import BatonIngress
import BatonJSON
import BatonLoad
import Foundation
import Logging
import ServiceLifecycle

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the host with the process scheduler, deploy examples/hello and route hello.localhost to it.",
        discussion: """
            Without --rollovers it keeps serving until Ctrl-C. With --rollovers N it also sends steady HTTP load \
            (GETs, POSTs that must run exactly once, and an open event stream) while it deploys N new versions, \
            then prints what the clients saw and exits: 0 when they saw no error.
            """
    )

    @Option(help: "New versions to roll over to under load; 0 keeps serving until Ctrl-C.")
    var rollovers = 0
    @Option(help: "Where to serve HTTP (HOST:PORT; port 0 picks a free one).")
    var http = "127.0.0.1:8080"
    @Option(
        help:
            "Also serve HTTPS on HOST:PORT, with a certificate for the app's host signed by an authority made for the demo; the load then goes over HTTPS."
    )
    var https: String?
    @Option(help: "The app's directory, holding deploy.json.")
    var appDirectory = "examples/hello"
    @Flag(
        help:
            "Run as the seed system did before its fix, to see what Baton prevents: no readiness gate, no drain, no retries, no holding."
    )
    var unprotected = false
    @Option(
        help:
            "Keep the event stream and the WebSocket open at least this long; past the lease TTL (30 s) it proves no timeout cuts them."
    )
    var streamSeconds = 0
    @Option(help: "Least severe host log level shown.")
    var logLevel: Logger.Level = .warning

    func run() async throws {
        let logger = LoggingOptions.bootstrap(level: logLevel)
        guard let colon = http.lastIndex(of: ":"), let port = Int(http[http.index(after: colon)...]) else {
            throw ValidationError("--http takes HOST:PORT; got \(http)")
        }
        let work = try TemporaryWorkDirectory()
        var configuration = HostConfiguration(socketPath: work.path + "/baton.sock")
        configuration.stateDirectory = work.path + "/state"
        configuration.keepsState = true
        configuration.ingress = IngressConfiguration(host: String(http[..<colon]), port: port)
        var certificates: DemoCertificates?
        if let https {
            guard let colon = https.lastIndex(of: ":"), let port = Int(https[https.index(after: colon)...]) else {
                throw ValidationError("--https takes HOST:PORT; got \(https)")
            }
            configuration.ingress?.https = ListenAddress(host: String(https[..<colon]), port: port)
            certificates = try DemoCertificates(directory: work.path)
        }
        if unprotected {
            configuration.readinessGate = false
            configuration.ingress?.maxRetries = 0
            configuration.ingress?.holdTimeout = .zero
        }
        configuration.plugins = [ServeCommand.builtInScheduler]
        let host = BatonHost(configuration: configuration, logger: logger)
        let demo = DemoService(
            host: host,
            socket: configuration.rpc.socketPath,
            deployFile: appDirectory + "/deploy.json",
            rollovers: rollovers,
            streamSeconds: streamSeconds,
            ledger: work.path + "/echo-ledger",
            certificates: certificates
        )
        do {
            try await host.prepare()
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: host.services + [
                        ServiceGroupConfiguration.ServiceConfiguration(
                            service: demo,
                            successTerminationBehavior: .gracefullyShutdownGroup
                        )
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        } catch {
            printError("\(error)", command: "demo")
            work.remove()
            throw ExitCode.failure
        }
        work.remove()
        if demo.failed.withLockedValue({ $0 }) { throw ExitCode.failure }
    }
}

/// A private directory for the demo's socket and state, removed when it ends.
struct TemporaryWorkDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/baton-demo-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw ValidationError("cannot create a directory in /tmp")
        }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
