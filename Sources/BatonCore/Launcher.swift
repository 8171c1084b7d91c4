import Logging

/// Turns deploys into pools and moves each app from one version to the next: it waits,
/// driven by readiness as it is reported, until the new pools reach their quorum, cuts
/// over in one step, drains the old sandboxes and then scales their pools down. A
/// version that is not ready in time is rolled back and the old one keeps serving.
/// Deploys of different apps never wait on each other: nothing here blocks on an app.
public actor Launcher {
    struct AppRecord {
        var name: AppName
        var phase = AppPhase.serving
        var activeVersion: String?
        /// service → pool serving the active version.
        var activePools: [String: PoolID] = [:]
        var versions: [String: [ServiceSpec]] = [:]
        var deployments: [DeploymentID] = []
    }

    struct PoolRecord {
        var id: PoolID
        var app: AppName
        var version: String
        var spec: ServiceSpec
        var desired: Int
        var admitted = 0
        var life = PoolLifecycle()

        /// What the broker needs to know of the pool.
        var info: PoolInfo {
            PoolInfo(
                id: id,
                app: app,
                version: version,
                service: spec.name,
                slotsPerSandbox: spec.slotsPerSandbox,
                health: spec.health
            )
        }
    }

    struct DeploymentRecord {
        var id: DeploymentID
        var request: DeployRequest
        var life = DeploymentLifecycle()
        var started: CoreInstant
        /// service → pool for every service of the version.
        var servicePools: [String: PoolID] = [:]
        /// The pools whose quorum the cutover waits for, by service.
        var waitPools: [String: PoolID] = [:]
        /// Pools this deploy started or brought back, which a rollback scales down.
        var startedPools: Set<PoolID> = []
        var failures: [String] = []
        var timer: Task<Void, Never>?

        var state: DeploymentState { life.phase }
        var reason: String? { life.reason }
    }

    let broker: LeaseBroker
    let clock: any CoreClock
    let logger: Logger
    public nonisolated let events = EventBus<CoreEvent>()
    /// Told the whole route table each time it changes, before the change is acknowledged.
    let routesChanged: @Sendable ([String: RouteSpec]) -> Void
    /// How long a draining pool whose sandboxes still carry streams is kept past the request
    /// drain timeout; the ingress closes such streams before it.
    let streamDrain: Duration
    public static let defaultStreamDrain = Duration.seconds(3_600 + 120)
    /// Sandbox failures a waiting deploy keeps for its reason; the latest ones.
    static let failuresKept = 16

    var apps: [AppName: AppRecord] = [:]
    var pools: [PoolID: PoolRecord] = [:]
    var deployments: [DeploymentID: DeploymentRecord] = [:]
    /// Serving pools an operator stops or stopped, while they stay active.
    var stops: [PoolID: StopRecord] = [:]
    /// By `RouteSpec.key`.
    var routes: [String: RouteSpec] = [:]
    var schedulers: SchedulerDirectory
    var nextDeployment = 0
    /// Broker signals handled to the end; the simulation waits until the broker sent no more.
    package private(set) var signalsHandled = 0
    /// When each alarm that has not run to its end is due, by number: the simulation waits
    /// for those due before it checks, as it waits for signals.
    var alarmsPending: [Int: CoreInstant] = [:]
    var nextAlarm = 0
    var nextPool = 0
    /// Whether this launcher decides, or copies what its cluster's leader decided.
    var role: LauncherRole
    /// This node's part of each pool's count, which its own schedulers run.
    var shares = NodeShares.alone
    /// Where changes go; set by `restore(from:)`, in memory only until then.
    var store: any LauncherStore = EphemeralStore()
    /// Records changed since the last `commit()`, by key.
    var changed = ChangedRecords()
    /// Drains the cluster's other nodes take part in, while this launcher leads.
    var elsewhere = ElsewhereDrains()
    /// Pools a follower copied at 0 while its own requests still run on their sandboxes here.
    var localDrains: [PoolID: LocalDrain] = [:]
    /// Each drain the cluster's other nodes must finish, once its changes are queued for the
    /// store; the cluster answers with `drainedElsewhere`.
    public nonisolated let drainsBegun: AsyncStream<ClusterDrain>
    let drainsBegunContinuation: AsyncStream<ClusterDrain>.Continuation

    /// Off only to show what a rollover without it looks like (the seed system before its
    /// fix): a deploy cuts over at once and the old pools stop at once, without draining.
    let readinessGate: Bool

    public init(
        broker: LeaseBroker,
        clock: any CoreClock,
        defaultScheduler: String? = nil,
        logger: Logger,
        routesChanged: @escaping @Sendable ([String: RouteSpec]) -> Void = { _ in },
        streamDrain: Duration = Launcher.defaultStreamDrain,
        readinessGate: Bool = true,
        role: LauncherRole = .leading
    ) {
        self.broker = broker
        self.role = role
        self.readinessGate = readinessGate
        self.streamDrain = streamDrain
        self.routesChanged = routesChanged
        self.clock = clock
        self.logger = logger
        self.schedulers = SchedulerDirectory(configuredDefault: defaultScheduler)
        (drainsBegun, drainsBegunContinuation) = AsyncStream<ClusterDrain>.makeStream()
    }

    /// Follows the broker's readiness signals until cancelled; run once, by the launcher's
    /// owner.
    public func followSignals() async {
        for await signal in broker.signals {
            await handle(signal)
            commit()
            signalsHandled += 1
        }
    }

    /// Cancels every deployment's and every stop's timer.
    public func stop() {
        for deployment in deployments.values { deployment.timer?.cancel() }
        for stop in stops.values { stop.timer?.cancel() }
    }

    // MARK: Deploy

    /// Records the deploy and starts it; returns its id at once. Nothing is applied when
    /// the request is refused.
    public func deploy(_ request: DeployRequest) async throws(CoreError) -> DeploymentID {
        try mustLead()
        if let earlier = deployment(keyedBy: request.requestID, of: request.app) {
            guard deployments[earlier]?.request == request else {
                throw .invalidDeploy("requestId \"\(request.requestID ?? "")\" was given to a different deploy")
            }
            return earlier
        }
        defer { commit() }
        try validate(request)
        if apps[request.app]?.phase == .removing { throw .beingRemoved(request.app) }
        if let known = apps[request.app]?.versions[request.version], known != request.services {
            throw CoreError(
                code: .versionConflict,
                message:
                    "Version \"\(request.version)\" of app \"\(request.app)\" was deployed before with a different spec; give this one a new version"
            )
        }
        let app = request.app
        var record = apps[app] ?? AppRecord(name: app)
        record.versions[request.version] = request.services
        nextDeployment += 1
        let id = DeploymentID("d-\(nextDeployment)")
        var deployment = DeploymentRecord(id: id, request: request, started: clock.now)
        record.deployments.append(id)
        apps[app] = record
        changed.apps.insert(app)
        changed.versions.insert(VersionKey(app: app, version: request.version))

        var created: [PoolRecord] = []
        /// Older pools this deploy runs again (a rollback), perhaps while they drain.
        var reclaimed: [(pool: PoolID, actions: [PoolLifecycle.Action])] = []
        for service in request.services {
            let identity = service.poolIdentity
            if let existing = pools.values.first(where: { $0.app == app && $0.spec.poolIdentity == identity }) {
                deployment.servicePools[service.name] = existing.id
                pools[existing.id]?.spec = service
                changed.pools.insert(existing.id)
                if record.activePools[service.name] != existing.id {
                    deployment.waitPools[service.name] = existing.id
                    deployment.startedPools.insert(existing.id)
                    reclaimed.append((existing.id, pools[existing.id]?.life.wanted(by: id) ?? []))
                }
            } else {
                nextPool += 1
                let pool = PoolRecord(
                    id: PoolID("p-\(nextPool)"),
                    app: app,
                    version: request.version,
                    spec: service,
                    desired: service.instances,
                    life: PoolLifecycle(.starting(for: id))
                )
                pools[pool.id] = pool
                changed.pools.insert(pool.id)
                created.append(pool)
                deployment.servicePools[service.name] = pool.id
                deployment.waitPools[service.name] = pool.id
                deployment.startedPools.insert(pool.id)
            }
        }
        deployments[id] = deployment
        changed.deployments.insert(id)
        // Every count is set before the first await: a commit made meanwhile by another call
        // (the actor is reentrant) must never store a pool this deploy waits for at 0, which a
        // follower would copy and a new leader would resume. Schedulers hear them below.
        var lifted: [PoolID] = []
        for service in request.services {
            guard let pool = deployment.servicePools[service.name] else { continue }
            if let stop = stops.removeValue(forKey: pool) {
                stop.timer?.cancel()
                lifted.append(pool)
            }
            pools[pool]?.desired = service.instances
        }
        let superseded = record.deployments.dropLast().filter { deployments[$0]?.state == .waiting }
        for older in superseded { await step(older) { $0.superseded(by: id, version: request.version) } }

        // The broker must know a pool before any scheduler hears of it.
        await broker.registerApp(app)
        for pool in created { await broker.registerPool(pool.info) }
        for (pool, actions) in reclaimed { await perform(actions, onPool: pool, for: id) }
        guard deployments[id]?.state == .waiting else { return id }  // superseded meanwhile
        publish(.init(.deployStarted, app: app, deployment: id, version: request.version))
        for pool in created {
            publish(
                .init(
                    .poolCreated,
                    app: app,
                    deployment: id,
                    version: pool.version,
                    service: pool.spec.name,
                    pool: pool.id
                )
            )
        }
        for pool in lifted { await broker.returnToService(pool: pool) }
        schedulers.publish(deployment.servicePools.values.sorted().compactMap { pools[$0] }.map(desiredPool))
        startTimer(for: id, at: .ready)
        await evaluate(id)
        await prune(app: app)
        return id
    }

    private func validate(_ request: DeployRequest) throws(CoreError) {
        guard !request.app.rawValue.isEmpty else { throw .invalidDeploy("the app needs a name") }
        guard !request.version.isEmpty else { throw .invalidDeploy("the deploy needs a version") }
        guard WireLimits.isName(request.app), WireLimits.isName(request.version) else {
            throw .invalidDeploy(
                "app and version names are 1 to \(WireLimits.nameBytes) visible ASCII characters, no spaces"
            )
        }
        guard !request.services.isEmpty else { throw .invalidDeploy("the version needs at least one service") }
        guard WireLimits.timeoutMs.contains(request.readyTimeout.milliseconds),
            WireLimits.timeoutMs.contains(request.drainTimeout.milliseconds)
        else {
            throw .invalidDeploy("readyTimeoutMs and drainTimeoutMs must be within \(WireLimits.timeoutMs)")
        }
        var names: Set<String> = []
        for service in request.services {
            guard !service.name.isEmpty else { throw .invalidDeploy("every service needs a name") }
            guard WireLimits.isName(service.name), service.scheduler.map(WireLimits.isName) ?? true else {
                throw .invalidDeploy(
                    "service and scheduler names are 1 to \(WireLimits.nameBytes) visible ASCII characters, no spaces"
                )
            }
            guard WireLimits.instances.contains(Int64(service.instances)),
                WireLimits.slots.contains(Int64(service.slotsPerSandbox))
            else {
                throw .invalidDeploy(
                    "service \"\(service.name)\" needs instances within \(WireLimits.instances) and slots within \(WireLimits.slots)"
                )
            }
            guard names.insert(service.name).inserted else {
                throw .invalidDeploy("service \"\(service.name)\" is listed twice")
            }
            guard service.instances >= 1 else {
                throw .invalidDeploy("service \"\(service.name)\" needs at least 1 instance")
            }
            guard service.slotsPerSandbox >= 1 else {
                throw .invalidDeploy("service \"\(service.name)\" needs at least 1 slot per sandbox")
            }
            if let minReady = service.minReady, minReady < 1 || minReady > service.instances {
                throw .invalidDeploy(
                    "service \"\(service.name)\" has minReady \(minReady); it must be between 1 and its \(service.instances) instances"
                )
            }
        }
        guard request.readyTimeout > .zero, request.drainTimeout >= .zero else {
            throw .invalidDeploy("readyTimeoutMs must be positive and drainTimeoutMs not negative")
        }
    }

    // MARK: Pools and schedulers

    func setDesired(_ id: PoolID, _ desired: Int) {
        guard let pool = pools[id], pool.desired != desired else { return }
        pools[id]?.desired = desired
        changed.pools.insert(id)
        schedulers.publish([desiredPool(pools[id]!)])
    }

    /// Runs one transition of pool `id`, on behalf of `deployment`, and does what it asks for.
    func step(
        pool id: PoolID,
        for deployment: DeploymentID?,
        _ transition: (inout PoolLifecycle) -> [PoolLifecycle.Action]
    ) async {
        guard var life = pools[id]?.life else { return }
        let actions = transition(&life)
        pools[id]?.life = life
        await perform(actions, onPool: id, for: deployment)
    }

    private func perform(_ actions: [PoolLifecycle.Action], onPool id: PoolID, for deployment: DeploymentID?) async {
        for action in actions {
            guard let pool = pools[id] else { return }
            switch action {
            case .returnToService:
                await broker.returnToService(pool: id)
            case .resumeDrain:
                await broker.resumeDrain(pool: id)
            case .endDrain(let holder):
                await step(holder) { $0.drain { $0.poolServesAgain(id) } }
            case .scaleDown(let reason):
                guard pool.desired > 0 else { continue }  // given up before it was raised
                setDesired(id, 0)
                publish(
                    .init(
                        .poolScaledDown,
                        app: pool.app,
                        deployment: deployment,
                        version: pool.version,
                        service: pool.spec.name,
                        pool: id,
                        reason: reason.rawValue
                    )
                )
                await broker.retire(pool: id)
            case .keep(let reason):
                logger.notice(
                    "pool kept: it serves, is waited for or drains",
                    metadata: ["pool": "\(id)", "asked": "\(reason.rawValue)"]
                )
            }
        }
    }

    /// Whether a pool serves, is waited for, or was taken back: it is never scaled down.
    func isNeeded(_ id: PoolID) -> Bool {
        pools[id]?.life.isNeeded ?? false
    }

    func desiredPool(_ pool: PoolRecord) -> DesiredPool {
        DesiredPool(
            pool: pool.id,
            app: pool.app,
            version: pool.version,
            service: pool.spec.name,
            desired: shares.share(of: pool.desired),
            spec: pool.spec
        )
    }

    /// `pool` as its scheduler must run it to stop every sandbox of it.
    func stoppedPool(_ pool: PoolRecord) -> DesiredPool {
        var stopped = desiredPool(pool)
        stopped.desired = 0
        return stopped
    }

    /// Connects a scheduler: returns every pool it runs, then pushes changes.
    public func subscribeScheduler(
        name: String
    ) -> (id: Int, snapshot: [DesiredPool], updates: AsyncStream<DesiredUpdate>) {
        let (stream, continuation) = AsyncStream.makeStream(of: DesiredUpdate.self)
        let id = schedulers.add(name: name, continuation: continuation)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribeScheduler(id) }  // a termination handler cannot await the actor
        }
        let snapshot = pools.values.filter { schedulers.owner(of: $0.spec) == name }.sorted { $0.id < $1.id }.map(
            publishedPool
        )
        return (id, snapshot, stream)
    }

    public func unsubscribeScheduler(_ id: Int) {
        schedulers.remove(id)
    }

    // MARK: Routes

    /// Routes a host, or the part of it under a path prefix, to an app, replacing the route
    /// with the same host and prefix. Only routes from the host's own configuration may name
    /// an app not deployed yet: its requests get 503 until it is.
    public func setRoute(_ route: RouteSpec, allowingUnknownApp: Bool = false) throws(CoreError) {
        try mustLead()
        if let problem = route.problem { throw CoreError(code: .invalidDeploy, message: "Invalid route: \(problem)") }
        if let other = routes.values.first(where: {
            $0.host == route.host && $0.key != route.key && $0.tls != route.tls
        }) {
            // One certificate serves a host, whatever path a request has.
            throw CoreError(
                code: .invalidDeploy,
                message: "Invalid route: \(other.key) has other tls settings; every route of a host has the same"
            )
        }
        guard apps[route.app] != nil || allowingUnknownApp else { throw .unknownApp(route.app) }
        routes[route.key] = route
        changed.routes.insert(route.key)
        commit()
        routesChanged(routes)
    }

    /// Removes the route named by `key` (`RouteSpec.key`: host and path prefix).
    public func removeRoute(key: String) throws(CoreError) {
        try mustLead()
        guard routes.removeValue(forKey: key) != nil else {
            throw CoreError(code: .unknownRoute, message: "No route for \"\(key)\"")
        }
        changed.routes.insert(key)
        commit()
        routesChanged(routes)
    }

    /// Every route, by host and then prefix.
    public func routeTable() -> [RouteSpec] {
        routes.values.sorted { $0.key < $1.key }
    }

    // MARK: Events

    func publish(_ subject: EventSubject) {
        let event = CoreEvent(time: clock.now, subject: subject)
        logger.info(
            "\(subject.type.rawValue)",
            metadata: [
                "app": "\(subject.app)", "deployment": "\(subject.deployment ?? "-")",
                "version": "\(subject.version ?? "-")", "pool": "\(subject.pool ?? "-")",
                "sandbox": "\(subject.sandbox ?? "-")", "reason": "\(subject.reason ?? "-")",
            ]
        )
        events.publish(event)
    }

    /// Arms deployment `id`'s one timer for `deadline`, replacing the one before.
    func startTimer(for id: DeploymentID, at deadline: DeploymentLifecycle.Deadline) {
        guard let request = deployments[id]?.request else { return }
        deployments[id]?.timer?.cancel()
        let after =
            switch deadline {
            case .ready: request.readyTimeout
            case .requestDrain: request.drainTimeout
            case .streamDrain: streamDrain
            }
        // Owned by the deployment's record: replaced or cancelled by its next `wake` or `stopTimer`.
        deployments[id]?.timer = alarm(after: after) { await $0.deadlinePassed(deadline, of: id) }
    }

    /// A task that runs `body` on the launcher once `delay` has passed, unless it is
    /// cancelled first. Not in a task group: an actor method cannot hold one open, so the
    /// record it wakes (a deployment or a stop) keeps it and cancels it when it is replaced or ends.
    func alarm(after delay: Duration, _ body: @escaping @Sendable (Launcher) async -> Void) -> Task<Void, Never> {
        let clock = self.clock
        let wake = clock.now + delay
        nextAlarm += 1
        let number = nextAlarm
        alarmsPending[number] = wake
        return Task { [weak self] in
            let rang: Void? = try? await clock.sleep(until: wake)
            await self?.alarmEnded(number, running: rang.map { body })
        }
    }

    /// Runs a rung alarm's body (none for a cancelled one) and forgets the alarm.
    func alarmEnded(_ number: Int, running body: (@Sendable (Launcher) async -> Void)?) async {
        if let body {
            await body(self)
            commit()
        }
        alarmsPending[number] = nil
    }

    /// Whether an alarm whose time has come has not run to its end yet.
    package var alarmsDue: Bool {
        let now = clock.now
        return alarmsPending.values.contains { $0 <= now }
    }
}
