import BatonPlugins
import BatonTLS
import Foundation
import Subprocess
import Synchronization
import SystemPackage

/// For tests: a real ACME server, Debian's `pebble`, with `pebble-challtestsrv` as its DNS,
/// which answers every name with 127.0.0.1. Pebble serves its directory with a certificate
/// of the test's own authority (`caRootFile`), checks HTTP-01 challenges on `httpPort` and
/// TLS-ALPN-01 challenges on `tlsPort` (where nothing listens, unless given), and issues
/// certificates valid for `validitySeconds`. Both processes stop before `running` returns.
public struct PebbleServer: Sendable {
    public let directoryURL: String
    /// The authority pebble's own listener is checked against, for `--acme-ca-root`.
    public let caRootFile: String
    private let managementPort: Int
    private let authority: CertificateAuthority

    /// The root pebble issues under, made anew each start, for a client of the certificates it issued.
    public func issuingRootPEM() async throws -> String {
        let answer = try await TestHTTPClient.send(
            port: managementPort,
            path: "/roots/0",
            host: "localhost",
            tls: TestHTTPClient.TLS(trusting: try authority.certificatePEM, serverName: "localhost")
        )
        guard answer.status == 200 else { throw Stopped(what: "pebble's root: HTTP \(answer.status)") }
        return answer.body
    }

    /// `nonceRejectPercent`: how many good nonces pebble refuses as bad, as servers may.
    public static func running<T: Sendable>(
        httpPort: Int,
        tlsPort: Int? = nil,
        validitySeconds: Int = 90 * 86_400,
        nonceRejectPercent: Int = 0,
        _ body: (PebbleServer) async throws -> T
    ) async throws -> T {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let authority = try CertificateAuthority(name: "pebble test CA")
        let (chain, key) = try authority.issue(for: ["localhost"])
        try chain.write(toFile: directory.file("cert.pem"), atomically: true, encoding: .utf8)
        try key.write(toFile: directory.file("key.pem"), atomically: true, encoding: .utf8)
        try authority.certificatePEM.write(toFile: directory.file("ca.pem"), atomically: true, encoding: .utf8)
        let (acmePort, managementPort, dnsPort) = (try FreePort.pick(), try FreePort.pick(), try FreePort.pick())
        let config = """
            {"pebble": {"listenAddress": "127.0.0.1:\(acmePort)", "managementListenAddress": "127.0.0.1:\(managementPort)",
             "certificate": "\(directory.file("cert.pem"))", "privateKey": "\(directory.file("key.pem"))",
             "httpPort": \(httpPort), "tlsPort": \(try tlsPort ?? FreePort.pick()), "certificateValidityPeriod": \(validitySeconds)}}
            """
        try config.write(toFile: directory.file("pebble.json"), atomically: true, encoding: .utf8)
        let server = PebbleServer(
            directoryURL: "https://localhost:\(acmePort)/dir",
            caRootFile: directory.file("ca.pem"),
            managementPort: managementPort,
            authority: authority
        )
        let dns = ServerProcess(
            "/usr/bin/pebble-challtestsrv",
            [
                "-dns01", "127.0.0.1:\(dnsPort)", "-http01", "", "-https01", "", "-tlsalpn01", "",
                "-management", "127.0.0.1:\(try FreePort.pick())", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
            ],
            readyLine: "Starting challenge servers"
        )
        // No random pause before a validation.
        let pebble = ServerProcess(
            "/usr/bin/pebble",
            ["-config", directory.file("pebble.json"), "-dnsserver", "127.0.0.1:\(dnsPort)"],
            environment: ["PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "\(nonceRejectPercent)"],
            readyLine: "Listening on"
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            defer { for process in [dns, pebble] { process.end() } }
            group.addTask { try await dns.run() }
            try await dns.ready()
            group.addTask { try await pebble.run() }
            try await pebble.ready()
            let result = try await body(server)
            for process in [dns, pebble] { process.end() }
            try await group.waitForAll()
            return result
        }
    }

    struct Stopped: Error, CustomStringConvertible {
        var what: String
        var description: String { what }
    }
}

/// A server process a test runs until `end()`: ready once it prints `readyLine`.
private final class ServerProcess: Sendable {
    private enum Run {
        case notYet
        case running(Execution<NoInput, SequenceOutput, DiscardedOutput>)
        case ended
    }

    private let path: String
    private let arguments: [String]
    private let environment: [Environment.Key: String?]
    private let readyLine: String
    private let run = Mutex(Run.notYet)
    private let readiness: AsyncStream<Bool>
    private let readinessSink: AsyncStream<Bool>.Continuation

    init(_ path: String, _ arguments: [String], environment: [Environment.Key: String?] = [:], readyLine: String) {
        self.path = path
        self.arguments = arguments
        self.environment = environment
        self.readyLine = readyLine
        (readiness, readinessSink) = AsyncStream.makeStream()
    }

    /// Returns once the process is ready; one that exits first fails.
    func ready() async throws {
        var events = readiness.makeAsyncIterator()
        guard await events.next() == true else {
            throw PebbleServer.Stopped(what: "\(path) exited before it was ready")
        }
    }

    func end() {
        let running = run.withLock { run -> Execution<NoInput, SequenceOutput, DiscardedOutput>? in
            defer { run = .ended }
            if case .running(let execution) = run { return execution }
            return nil
        }
        try? running?.send(signal: .terminate)
    }

    func run() async throws {
        _ = try await Subprocess.run(
            .path(FilePath(path)),
            arguments: Arguments(arguments),
            environment: .inherit.updating(environment),
            input: .none,
            output: .sequence,
            error: .discarded
        ) { execution in
            let ended = run.withLock { run -> Bool in
                if case .ended = run { return true }
                run = .running(execution)
                return false
            }
            if ended { try? execution.send(signal: .terminate) }
            // The log is read to its end: a full pipe would stop the server.
            for try await line in execution.standardOutput.strings() where line.contains(readyLine) {
                readinessSink.yield(true)
            }
        }
        readinessSink.yield(false)
        readinessSink.finish()
    }
}
