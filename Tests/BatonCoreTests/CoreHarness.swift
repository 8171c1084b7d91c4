import BatonCore
import BatonJSON
import BatonProtocol
import BatonSimulation
import BatonTestSupport
import Logging
import NIOConcurrencyHelpers

/// A probe whose answer per URL the test sets; URLs it was not told about pass.
final class ScriptedProbe: ReadinessProbe {
    private let failing = NIOLockedValueBox<Set<String>>([])

    func setFailing(_ url: String, _ fails: Bool) {
        failing.withLockedValue { if fails { $0.insert(url) } else { $0.remove(url) } }
    }

    func isReady(url: String, health: HealthCheck?) async -> Bool {
        !failing.withLockedValue { $0.contains(url) }
    }
}

/// The core's two actors on a manual clock, with helpers to drive them as a
/// scheduler and a router would.
struct CoreHarness {
    let clock = ManualClock()
    let probe = ScriptedProbe()
    let broker: LeaseBroker
    let launcher: Launcher

    init(defaultScheduler: String? = nil) async {
        try! await self.init(defaultScheduler: defaultScheduler, store: nil)
    }

    /// A core that takes back what `store` kept, as a restarted host does, and keeps its
    /// changes there.
    init(restoringFrom store: any LauncherStore) async throws {
        try await self.init(defaultScheduler: nil, store: store)
    }

    private init(defaultScheduler: String?, store: (any LauncherStore)?) async throws {
        var logger = Logger(label: "core-test")
        logger.logLevel = .critical
        broker = LeaseBroker(clock: clock, probe: probe, logger: logger)
        launcher = Launcher(broker: broker, clock: clock, defaultScheduler: defaultScheduler, logger: logger)
        if let store { try await launcher.restore(from: store) }
        let launcher = self.launcher
        Task { await launcher.followSignals() }  // ends with the test process: a harness lives for one test
    }

    func deploy(
        _ app: AppName,
        _ version: String,
        services: [ServiceSpec],
        readyTimeout: Duration = .seconds(60),
        drainTimeout: Duration = .seconds(30),
        onTimeout: TimeoutPolicy = .rollback
    ) async throws -> DeploymentID {
        try await launcher.deploy(
            DeployRequest(
                app: app,
                version: version,
                services: services,
                readyTimeout: readyTimeout,
                drainTimeout: drainTimeout,
                onTimeout: onTimeout
            )
        )
    }

    /// Deploys `version` of "shop", makes `sandboxes[i]` ready for `services[i]`, and returns
    /// the deployment once it reaches `milestone` (done, unless the test holds a drain open).
    func live(
        _ version: String,
        _ services: [ServiceSpec],
        sandboxes: [SandboxID],
        events: inout EventRecorder,
        waitingFor milestone: EventType = .deployDone
    ) async throws -> DeploymentID {
        let deployment = try await deploy("shop", version, services: services)
        for (service, sandbox) in zip(services, sandboxes) {
            try await ready(sandbox, pool: try await pool(of: deployment, service.name))
        }
        await events.next(milestone) { $0.deployment == deployment }
        return deployment
    }

    func events(_ apps: Set<AppName>? = nil) -> EventRecorder {
        EventRecorder(iterator: launcher.events.subscribe { apps?.contains($0.app) ?? true }.makeAsyncIterator())
    }

    func revocations() -> RevocationRecorder {
        RevocationRecorder(iterator: broker.revocations.subscribe().makeAsyncIterator())
    }

    func ready(_ sandbox: SandboxID, pool: PoolID) async throws {
        try await broker.report(SandboxReport(sandbox: sandbox, pool: pool, state: .starting), from: "fake")
        try await broker.report(
            SandboxReport(sandbox: sandbox, pool: pool, state: .ready, url: "http://127.0.0.1:9/\(sandbox)"),
            from: "fake"
        )
    }

    func status(_ app: AppName) async throws -> AppStatus {
        try await launcher.status(app: app)
    }

    /// The pool serving `service` in `deployment`.
    func pool(of deployment: DeploymentID, _ service: String = "web", app: AppName = "shop") async throws -> PoolID {
        let status = try await status(app)
        let version = status.deployments.first { $0.id == deployment }!.version
        return status.pools.last { $0.service == service && $0.version == version }?.id
            ?? status.pools.last { $0.service == service }!.id
    }

    func desired(_ pool: PoolID, app: AppName = "shop") async throws -> Int {
        try await status(app).pools.first { $0.id == pool }!.desired
    }
}

func web(
    _ instances: Int = 1,
    image: String,
    minReady: Int? = nil,
    slots: Int = 64,
    scheduler: String? = nil
) -> ServiceSpec {
    ServiceSpec(
        name: "web",
        instances: instances,
        spec: ["image": .string(image)],
        minReady: minReady,
        scheduler: scheduler,
        slotsPerSandbox: slots
    )
}

func worker(image: String) -> ServiceSpec {
    ServiceSpec(name: "worker", instances: 1, spec: ["image": .string(image)])
}

/// Reads launcher events in order, skipping those a test does not wait for.
struct EventRecorder {
    var iterator: AsyncStream<CoreEvent>.Iterator
    private(set) var seen: [CoreEvent] = []

    init(iterator: AsyncStream<CoreEvent>.Iterator) {
        self.iterator = iterator
    }

    @discardableResult
    mutating func next(_ kind: EventType, where matches: (CoreEvent) -> Bool = { _ in true }) async -> CoreEvent? {
        while let event = await iterator.next() {
            seen.append(event)
            if event.type == kind, matches(event) { return event }
        }
        return nil
    }

    func saw(_ kind: EventType) -> Bool { seen.contains { $0.type == kind } }
}

struct RevocationRecorder {
    var iterator: AsyncStream<LeaseRevocation>.Iterator

    init(iterator: AsyncStream<LeaseRevocation>.Iterator) {
        self.iterator = iterator
    }

    mutating func next() async -> LeaseRevocation? { await iterator.next() }
}

/// A scheduler that does what it is told: for each pool it keeps `desired` sandboxes
/// running and ready, and stops the rest. It follows pushed changes in the background;
/// `reconcile()` catches up with a fresh snapshot, as a scheduler does after resubscribing.
actor FollowingScheduler {
    private let core: CoreHarness
    private var running: [PoolID: [SandboxID]] = [:]
    private var started = 0
    private var follower: Task<Void, Never>?

    init(core: CoreHarness) {
        self.core = core
    }

    func start() async {
        let (_, snapshot, updates) = await core.launcher.subscribeScheduler(name: "follower")
        for pool in snapshot { await apply(pool) }
        follower = Task {
            for await update in updates {
                for pool in update.pools { await self.apply(pool) }
            }
        }
    }

    func reconcile() async {
        follower?.cancel()
        await follower?.value
        let (id, snapshot, _) = await core.launcher.subscribeScheduler(name: "follower")
        for pool in snapshot { await apply(pool) }
        await core.launcher.unsubscribeScheduler(id)
    }

    /// Sandboxes this scheduler has running, by pool.
    var runningSandboxes: [PoolID: [SandboxID]] { running.filter { !$0.value.isEmpty } }

    private func apply(_ pool: DesiredPool) async {
        var sandboxes = running[pool.pool] ?? []
        while sandboxes.count < pool.desired {
            started += 1
            let sandbox = SandboxID("\(pool.pool)-s\(started)")
            try? await core.ready(sandbox, pool: pool.pool)
            sandboxes.append(sandbox)
        }
        while sandboxes.count > pool.desired {
            let sandbox = sandboxes.removeLast()
            try? await core.broker.report(
                SandboxReport(sandbox: sandbox, pool: pool.pool, state: .stopped),
                from: "follower"
            )
        }
        running[pool.pool] = sandboxes
    }
}
