import BatonAdmin
import BatonHost
import BatonJSON
import BatonLoad
import BatonProtocol
@preconcurrency import Glibc
import NIOConcurrencyHelpers
import ServiceLifecycle

/// The demo itself, beside the host's parts in one group: once the host listens, deploy v1,
/// route it, then serve or roll over under load; its end shuts the group down.
final class DemoService: Service, Sendable {
    let host: BatonHost
    let socket: String
    let deployFile: String
    let rollovers: Int
    /// How long the event stream and the WebSocket must stay open, at least, from before the
    /// first rollover: longer than the lease TTL proves that no timeout cuts them.
    let streamSeconds: Int
    /// Where every sandbox of every version writes the id of each POST it runs.
    let ledger: String
    /// With `--https`: the certificates, and the load goes over HTTPS.
    let certificates: DemoCertificates?
    /// Whether anything went wrong that the exit code must say.
    let failed = NIOLockedValueBox(false)

    init(
        host: BatonHost,
        socket: String,
        deployFile: String,
        rollovers: Int,
        streamSeconds: Int,
        ledger: String,
        certificates: DemoCertificates?
    ) {
        self.host = host
        self.certificates = certificates
        self.socket = socket
        self.deployFile = deployFile
        self.rollovers = rollovers
        self.streamSeconds = streamSeconds
        self.ledger = ledger
    }

    /// The deploy file's version, its sandboxes told where the shared POST ledger is.
    private func deploy(_ version: String) throws -> JSON {
        let loaded = try DeployFile.load(deployFile, version: version)
        let services: [JSON] = (loaded["services"]?.arrayValue ?? []).map { service in
            let spec = service["spec"] ?? [:]
            let env = (spec["env"] ?? [:]).setting("ECHO_LEDGER", to: .string(ledger))
            return service.setting("spec", to: spec.setting("env", to: env))
        }
        return loaded.setting("services", to: .array(services))
    }

    func run() async throws {
        setvbuf(stdout, nil, _IOLBF, 0)  // progress shows as it happens, also through a pipe
        await host.listening()
        do {
            try await demo()
        } catch {
            say("demo stopped: \(error)")
            failed.withLockedValue { $0 = true }
        }
        say("stopping the host and its sandboxes")
    }

    private func say(_ line: String) {
        print(line)
    }

    private func demo() async throws {
        guard let port = host.ingress?.port else { return }
        let first = try deploy("v1")
        let app = first["app"]?.stringValue ?? "hello"
        let hostName = "\(app).localhost"
        say("Baton serves HTTP on 127.0.0.1:\(port); the built-in process scheduler runs the sandboxes.")
        let progress = DeployProgress(socket: socket, tokenFile: nil, say: { print($0) }, untilCutover: true)
        guard try await progress.run(first).succeeded else {
            failed.withLockedValue { $0 = true }
            return
        }
        var route: JSON = ["host": .string(hostName), "app": .string(app)]
        if let certificates { route = route.setting("tls", to: try certificates.issue(for: hostName)) }
        _ = try await HostSession.with(socket: socket, name: "baton-demo") { [route] admin in
            try await admin.call(.routeSet, route)
        }
        say("")
        say("Try:  curl -H 'Host: \(hostName)' http://127.0.0.1:\(port)/")
        if let certificates, let httpsPort = host.ingress?.httpsPort {
            say(
                "      curl --cacert \(certificates.authorityFile) --resolve \(hostName):\(httpsPort):127.0.0.1 https://\(hostName):\(httpsPort)/"
            )
        }
        guard rollovers > 0 else {
            say("Serving until Ctrl-C.")
            try? await gracefulShutdown()
            return
        }
        try await rollOver(app: app, hostName: hostName, progress: progress)
    }

    private func rollOver(app: String, hostName: String, progress: DeployProgress) async throws {
        let tls = try certificates?.clients()
        guard let port = tls == nil ? host.ingress?.port : host.ingress?.httpsPort else { return }
        say("")
        say(
            "Sending load over \(tls == nil ? "HTTP" : "HTTPS") (GET /, POST /echo, PUT of 10 KiB, an open event stream and WebSocket) and rolling over \(rollovers) times."
        )
        let recorder = LoadRecorder()
        let load = {
            var load = LoadGenerator(host: "127.0.0.1", port: port, hostHeader: hostName, recorder: recorder)
            load.tls = tls
            return load
        }()
        let (outcomes, streamState, socketState) = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await load.run() }
            defer { group.cancelAll() }
            let stream = try await EventStreamWatcher.open(
                host: "127.0.0.1",
                port: port,
                hostHeader: hostName,
                path: "/events?interval_ms=100",
                tls: tls
            )
            do {
                let socket = try await WebSocketWatcher.open(
                    host: "127.0.0.1",
                    port: port,
                    hostHeader: hostName,
                    path: "/ws",
                    tls: tls
                )
                let outcomes: [DeployProgress.Outcome]
                do {
                    outcomes = try await rollOvers(progress: progress, recorder: recorder)
                } catch {
                    await socket.close()
                    throw error
                }
                let states = (stream.current, socket.current)
                await socket.close()
                await stream.close()
                return (outcomes, states.0, states.1)
            } catch {
                await stream.close()
                throw error
            }
        }
        let leftOver = try await oldSandboxesLeft(app: app)
        let ok = DemoSummary(
            recorder: recorder,
            outcomes: outcomes,
            stream: streamState,
            socket: socketState,
            oldSandboxesLeft: leftOver,
            postRuns: PostLedger.runs(in: ledger)
        )
        .print { say($0) }
        if !ok { failed.withLockedValue { $0 = true } }
    }

    /// The rollovers, then the streams kept open until `streamSeconds` after they opened.
    private func rollOvers(progress: DeployProgress, recorder: LoadRecorder) async throws -> [DeployProgress.Outcome] {
        let streamsOpened = ContinuousClock.now
        try await Task.sleep(for: .seconds(1))  // a baseline before the first rollover
        var outcomes: [DeployProgress.Outcome] = []
        for index in 0..<rollovers {
            let started = ContinuousClock.now
            let outcome = try await progress.run(try deploy("v\(index + 2)"))
            recorder.rollover(from: started, to: .now)
            outcomes.append(outcome)
            try await Task.sleep(for: .milliseconds(500))
        }
        try await Task.sleep(for: .seconds(1))
        let streamsDue = streamsOpened + .seconds(streamSeconds)
        if ContinuousClock.now < streamsDue {
            say("Keeping the event stream and the WebSocket open until \(streamSeconds) s after they opened.")
            try await Task.sleep(until: streamsDue)  // the time passing is what is checked
        }
        return outcomes
    }

    /// Once the streams are closed the old versions finish draining: sandboxes of a version
    /// other than the active one still not stopped after 15 s are left over.
    private func oldSandboxesLeft(app: String) async throws -> [String] {
        try await HostSession.with(socket: socket, name: "baton-demo") { admin in
            let deadline = ContinuousClock.now + .seconds(15)
            while true {
                let status = try await admin.call(.appStatus, ["app": .string(app)])
                let active = Set(
                    (status["pools"]?.arrayValue ?? []).filter { $0["version"] == status["activeVersion"] }.compactMap {
                        $0["pool"]?.stringValue
                    }
                )
                let left = (status["sandboxes"]?.arrayValue ?? []).filter { sandbox in
                    !active.contains(sandbox["pool"]?.stringValue ?? "") && sandbox["state"] != "stopped"
                        && sandbox["state"] != "failed"
                }.compactMap { $0["sandbox"]?.stringValue }
                if left.isEmpty || ContinuousClock.now > deadline { return left }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
