/// A peer proxy with hello backends started and stopped by hand, in the careful or the naive
/// order.
actor PeerTarget: RolloverTarget {
    nonisolated let port: Int
    private let proxy: any TrafficSwitch
    private let order: RolloverOrder
    private let appDirectory: String
    private let workDirectory: String
    /// How long the careful order lets the old backend finish before stopping it.
    private let drain: Duration
    private let neverReadyWait: Duration
    private var current: HelloBackend?

    init(
        proxy: any TrafficSwitch,
        order: RolloverOrder,
        appDirectory: String,
        workDirectory: String,
        drain: Duration,
        neverReadyWait: Duration
    ) {
        self.proxy = proxy
        port = proxy.port
        self.order = order
        self.appDirectory = appDirectory
        self.workDirectory = workDirectory
        self.drain = drain
        self.neverReadyWait = neverReadyWait
    }

    func start() async throws {
        let first = try backend("v1")
        guard await first.waitHealthy(timeout: .seconds(30)) != nil else {
            await first.stop()
            throw SwitchFailure(description: "the v1 backend did not become healthy")
        }
        current = first
        try await proxy.start(backendPort: first.port)
    }

    func rollOver(to version: String) async throws -> RolloverStep {
        let next = try backend(version)
        switch order {
        case .careful:
            guard let ready = await next.waitHealthy(timeout: .seconds(30)) else {
                await next.stop()
                throw SwitchFailure(description: "\(version) did not become healthy")
            }
            try await proxy.route(to: next.port)
            try await waitServed(version)
            try await Task.sleep(for: drain)
            await current?.stop()
            current = next
            return RolloverStep(version: version, readyAt: ready)
        case .naive:
            try await proxy.route(to: next.port)
            await current?.stop()
            current = next
            _ = await next.waitHealthy(timeout: .seconds(30))  // the window lasts until it serves
            return RolloverStep(version: version)
        }
    }

    func deployNeverReady(version: String) async throws -> String {
        let next = try backend(version, neverReady: true)
        switch order {
        case .careful:
            _ = await next.waitHealthy(timeout: neverReadyWait)
            await next.stop()
            return "the operator's health wait ran out after \(neverReadyWait); the old version kept serving"
        case .naive:
            try await proxy.route(to: next.port)
            await current?.stop()
            current = next
            try await Task.sleep(for: neverReadyWait)
            return "traffic went to a process that never listens; nothing served it until the operator noticed"
        }
    }

    func stop() async {
        await proxy.stop()
        await current?.stop()
        current = nil
    }

    private func backend(_ version: String, neverReady: Bool = false) throws -> HelloBackend {
        try HelloBackend(
            version: version,
            appDirectory: appDirectory,
            logFile: "\(workDirectory)/\(proxy.name)-\(version).log",
            neverReady: neverReady
        )
    }

    /// Until a request through the proxy is answered by `version` (the switch took effect).
    private func waitServed(_ version: String) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while await HelloBackend.answers(port: port, path: "/")?.hasPrefix("hello from \(version) ") != true {
            guard ContinuousClock.now < deadline else {
                throw SwitchFailure(description: "\(proxy.name) never served \(version)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
