import Logging

/// Tracks every sandbox, its state and its slots, and hands out leases on the ready
/// sandboxes of each app's active version. It owns the switch from one version to the
/// next (`cutover`), so that from that moment every new lease is for the new version.
public actor LeaseBroker {
    struct SandboxRecord {
        var id: SandboxID
        var pool: PoolID
        var life = SandboxLifecycle()
        var leases: Set<LeaseID> = []
        var slotsOut = 0
        var reporter: String?
        var reason: String?
        /// When it ended, in the order sandboxes end: the oldest ended are forgotten first.
        var ending = 0

        var url: String? { life.url }
        var state: SandboxState { life.state }
    }

    struct LeaseRecord {
        var lease: Lease
        var life: LeaseLifecycle
        var expiry: Task<Void, Never>?
    }

    struct Waiter {
        var id: Int
        var app: AppName
        var service: String
        var slots: ClosedRange<Int>
        var excluding: Set<SandboxID>
        var answer: AsyncStream<Result<Lease, CoreError>>.Continuation
        var timeout: Task<Void, Never>?
    }

    private let clock: any CoreClock
    private let probe: any ReadinessProbe
    private let logger: Logger
    public nonisolated let revocations = EventBus<LeaseRevocation>()
    nonisolated let signals: AsyncStream<BrokerSignal>
    private let signalSink: AsyncStream<BrokerSignal>.Continuation
    /// A word each time a lease on a draining sandbox ends, for `drainHolds()`'s readers;
    /// words not read yet count as one.
    public nonisolated let drainChanges: AsyncStream<Void>
    private let drainChange: AsyncStream<Void>.Continuation
    /// Signals sent so far; the simulation waits until the launcher has handled as many.
    package private(set) var signalsSent = 0

    private var knownApps: Set<AppName> = []
    var pools: [PoolID: PoolInfo] = [:]
    var sandboxes = SandboxTable()
    var leases: [LeaseID: LeaseRecord] = [:]
    /// The pools each service of an app's active version is served from.
    var routing: [AppName: [String: Set<PoolID>]] = [:]
    var waiters: [Waiter] = []
    var probes: [SandboxID: Task<Void, Never>] = [:]
    private var nextLease = 0
    private var nextWaiter = 0
    private var nextEnding = 0
    /// Pools scaled to 0 and not taken back: every sandbox reported in them is retiring.
    private var retiredPools: Set<PoolID> = []
    /// Pools an operator stopped: routed, but taking no leases.
    var haltedPools: Set<PoolID> = []
    /// Apps an operator paused (or is removing): no leases at all.
    var pausedApps: Set<AppName> = []
    /// This host's part of every sandbox's slots: all of them, unless it is a node of a cluster.
    private var shares = NodeShares.alone
    /// Which admitted sandbox a lease goes to.
    private var preference = SandboxPreference.leastLoaded
    /// Ended sandboxes kept per pool for `app.status`; older ones are forgotten.
    static let endedSandboxesKept = 8

    public static let defaultLeaseTTL = Duration.seconds(30)
    public static let retryAfter = Duration.milliseconds(100)

    /// How long a lease lives without renewal (setting `leases.ttlMs`).
    public nonisolated let leaseTTL: Duration
    /// Off only to show what happens without a readiness gate: a sandbox then takes traffic
    /// from its first report that names a URL, unchecked (setting `launcher.readinessGate`).
    private let readinessGate: Bool

    public init(
        clock: any CoreClock,
        probe: any ReadinessProbe,
        logger: Logger,
        leaseTTL: Duration = LeaseBroker.defaultLeaseTTL,
        readinessGate: Bool = true
    ) {
        self.leaseTTL = leaseTTL
        self.readinessGate = readinessGate
        self.clock = clock
        self.probe = probe
        self.logger = logger
        (signals, signalSink) = AsyncStream.makeStream(of: BrokerSignal.self)
        (drainChanges, drainChange) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    private func signal(_ signal: BrokerSignal) {
        signalsSent += 1
        signalSink.yield(signal)
    }

    // MARK: Apps and pools (from the launcher)

    func registerApp(_ app: AppName) {
        knownApps.insert(app)
    }

    func registerPool(_ pool: PoolInfo) {
        pools[pool.id] = pool
    }

    /// What a cutover started: every sandbox that began draining, by pool (a pool with no
    /// sandboxes left is listed empty), and those of them still holding leases or requests.
    struct CutoverResult {
        var draining: [PoolID: [SandboxID]] = [:]
        var undrained: [PoolID: Set<SandboxID>] = [:]
    }

    /// Makes `servicePools` the place each service's new leases come from. Sandboxes of
    /// pools that leave the routing start draining, and their leases are revoked.
    func cutover(app: AppName, servicePools: [String: Set<PoolID>]) -> CutoverResult {
        let previous = Set((routing[app] ?? [:]).values.flatMap { $0 })
        routing[app] = servicePools
        let current = Set(servicePools.values.flatMap { $0 })
        var result = CutoverResult()
        for pool in previous.subtracting(current) {
            let (draining, undrained) = drain(pool: pool, reason: .cutover)
            result.draining[pool] = draining
            if !undrained.isEmpty { result.undrained[pool] = undrained }
        }
        wakeWaiters()
        return result
    }

    /// Drains every sandbox of `pool` (those an operator's stop drains already included);
    /// returns them, and those of them still holding leases or requests.
    private func drain(pool: PoolID, reason: RevocationReason) -> (draining: [SandboxID], undrained: Set<SandboxID>) {
        var draining: [SandboxID] = []
        var undrained: Set<SandboxID> = []
        for id in sandboxIDs(inPool: pool) {
            perform(sandboxes[id]!.life.cutAway(reason: reason), on: id)
            guard sandboxes[id]?.life.isDraining == true else { continue }
            draining.append(id)
            if sandboxes[id]?.leases.isEmpty == false {
                undrained.insert(id)
            } else {
                sandboxes[id]?.life.drainAnnounced()  // drained already; the launcher hears it from the answer
            }
        }
        return (draining, undrained)
    }

    // MARK: Operators (from the launcher)

    /// An operator stops a serving pool: it stays routed, but neither its sandboxes nor any
    /// it gets later take leases until it is returned to service. Returns the sandboxes that
    /// began draining, and those of them still holding leases or requests.
    func halt(pool: PoolID) -> (draining: [SandboxID], undrained: Set<SandboxID>) {
        haltedPools.insert(pool)
        return drain(pool: pool, reason: .draining)
    }

    /// No lease of `app` is handed out until `resume`: requests wait in order, up to their
    /// `wait`. The leases out are revoked with `reason`; what they carry finishes.
    func pause(app: AppName, reason: RevocationReason) {
        pausedApps.insert(app)
        let appPools = Set(pools.filter { $0.value.app == app }.keys)
        for record in sandboxes.inPools(appPools) { revokeLeases(onSandbox: record.id, reason: reason) }
    }

    /// Leases of `app` are handed out again, first to the requests that waited.
    func resume(app: AppName) {
        pausedApps.remove(app)
        wakeWaiters()
    }

    /// Forgets a removed app, its pools and their sandboxes; those still waiting for one of
    /// its leases are told it is unknown.
    func forget(app: AppName) {
        for pool in pools.values.filter({ $0.app == app }).map(\.id).sorted() { forget(pool: pool) }
        knownApps.remove(app)
        routing.removeValue(forKey: app)
        pausedApps.remove(app)
        for waiter in waiters where waiter.app == app {
            waiter.timeout?.cancel()
            waiter.answer.yield(.failure(.unknownApp(app)))
            waiter.answer.finish()
        }
        waiters.removeAll { $0.app == app }
    }

    /// A pool taken back, then given up before it served again: its sandboxes drain as they
    /// did, and those with nothing left to finish are drained at once.
    func resumeDrain(pool: PoolID) {
        retiredPools.remove(pool)
        for id in sandboxIDs(inPool: pool) {
            perform(sandboxes[id]!.life.drainsAgain(), on: id)
            signalIfDrained(id)
        }
    }

    /// A pool scaled to 0: its scheduler is told to stop every sandbox, so none may serve or
    /// count any more, whatever it last reported.
    func retire(pool: PoolID) {
        retiredPools.insert(pool)
        for id in sandboxIDs(inPool: pool) { perform(sandboxes[id]!.life.retired(), on: id) }
    }

    /// A pool taken back into use (a rollback): its draining sandboxes serve again, those
    /// that served at once, the others once they pass the check. Sandboxes it retired when it
    /// was scaled to 0 may be stopping: they serve only once their scheduler reports them again.
    func returnToService(pool: PoolID) {
        retiredPools.remove(pool)
        haltedPools.remove(pool)
        for id in sandboxIDs(inPool: pool) { perform(sandboxes[id]!.life.returned(), on: id) }
        wakeWaiters()
    }

    private func sandboxIDs(inPool pool: PoolID) -> [SandboxID] {
        sandboxes.inPool(pool).map(\.id)
    }

    /// Does what a transition of sandbox `id` asks for.
    private func perform(_ actions: [SandboxLifecycle.Action], on id: SandboxID) {
        guard let record = sandboxes[id] else { return }
        for action in actions {
            switch action {
            case .probe(let generation):
                if readinessGate { startProbe(id, generation: generation) } else { admit(id, generation: generation) }
            case .stopProbe:
                probes.removeValue(forKey: id)?.cancel()
            case .revokeLeases(let reason):
                revokeLeases(onSandbox: id, reason: reason)
            case .announceAdmitted:
                logger.debug("sandbox admitted", metadata: ["sandbox": "\(id)", "pool": "\(record.pool)"])
                signal(
                    .admitted(pool: record.pool, sandbox: id, admittedInPool: admittedCount(inPool: record.pool))
                )
            case .announceEnd:
                nextEnding += 1
                sandboxes[id]?.ending = nextEnding
                for leaseID in record.leases { forget(lease: leaseID) }
                forgetEndedSandboxes(ofPool: record.pool)
                let admitted = admittedCount(inPool: record.pool)
                signal(
                    record.state == .failed
                        ? .failed(
                            pool: record.pool,
                            sandbox: id,
                            reason: record.reason ?? "failed",
                            admittedInPool: admitted
                        )
                        : .stopped(pool: record.pool, sandbox: id, admittedInPool: admitted)
                )
            }
        }
    }

    /// Keeps the last few ended sandboxes of a pool to show, so a pool whose sandboxes crash
    /// again and again does not grow without bound.
    private func forgetEndedSandboxes(ofPool pool: PoolID) {
        let ended = sandboxes.inPool(pool).filter { $0.life.hasEnded }.sorted { $0.ending > $1.ending }
        for record in ended.dropFirst(Self.endedSandboxesKept) { sandboxes.removeValue(forKey: record.id) }
    }

    /// How many sandboxes of `pool` have not ended.
    func liveSandboxCount(inPool pool: PoolID) -> Int {
        sandboxes.inPool(pool).filter { !$0.life.hasEnded }.count
    }

    /// Forgets a pool and its sandboxes: one whose sandboxes have all ended, or one of an app
    /// removed, whose last leases (a stream past its deadline) are revoked and forgotten too.
    func forget(pool: PoolID) {
        for id in sandboxes.inPool(pool).map(\.id) {
            revokeLeases(onSandbox: id, reason: .stopped)
            for lease in sandboxes[id]?.leases.sorted() ?? [] { forget(lease: lease) }
            probes.removeValue(forKey: id)?.cancel()
            sandboxes.removeValue(forKey: id)
        }
        pools.removeValue(forKey: pool)
        retiredPools.remove(pool)
        haltedPools.remove(pool)
    }

    /// For each pool, how many of its sandboxes could take a lease now.
    func admittedCounts(pools wanted: Set<PoolID>) -> [PoolID: Int] {
        Dictionary(uniqueKeysWithValues: wanted.map { ($0, admittedCount(inPool: $0)) })
    }

    /// The sandboxes of `pool` that could take a lease now.
    func admittedCount(inPool pool: PoolID) -> Int {
        sandboxes.inPool(pool).filter { $0.life.isServing }.count
    }

    // MARK: Scheduler reports

    /// Applies one report; repeating a report changes nothing.
    public func report(_ report: SandboxReport, from scheduler: String?) throws(CoreError) {
        guard try isForKnownPool(report) else { return }
        apply(report, from: scheduler)
    }

    /// Whether `report` is for a pool the broker serves; the end of a sandbox of a pool already
    /// forgotten changes nothing, and any other report for an unknown pool is refused. A sandbox
    /// id names one sandbox of one pool for good.
    private func isForKnownPool(_ report: SandboxReport) throws(CoreError) -> Bool {
        if let known = sandboxes[report.sandbox], known.pool != report.pool {
            throw CoreError(
                code: .wrongPool,
                message:
                    "Wrong pool: sandbox \"\(report.sandbox)\" belongs to pool \"\(known.pool)\", not \"\(report.pool)\""
            )
        }
        if pools[report.pool] != nil { return true }
        if report.state.isFinal { return false }
        throw CoreError(code: .unknownPool, message: "Unknown pool \"\(report.pool)\"")
    }

    private func apply(_ report: SandboxReport, from scheduler: String?) {
        var report = report
        // A ready report carries a url: `SandboxReport(params:)` refuses one without.
        if !readinessGate, report.state == .starting, !(report.url ?? "").isEmpty { report.state = .ready }
        var record = sandboxes[report.sandbox] ?? SandboxRecord(id: report.sandbox, pool: report.pool)
        record.reporter = scheduler ?? record.reporter
        let actions = record.life.reported(
            report.state,
            url: report.url,
            poolRetired: retiredPools.contains(report.pool)
        )
        if actions.contains(.announceEnd) { record.reason = report.reason }
        sandboxes[report.sandbox] = record
        perform(actions, on: record.id)
    }

    /// Replaces what `scheduler` reported before with `reports`: sandboxes it reported
    /// earlier and leaves out now are taken as stopped.
    /// All or nothing: one entry refused leaves everything as it was.
    public func sync(_ reports: [SandboxReport], from scheduler: String) throws(CoreError) {
        var known: [SandboxReport] = []
        for report in reports where try isForKnownPool(report) { known.append(report) }
        for report in known { apply(report, from: scheduler) }
        let listed = Set(reports.map(\.sandbox))
        for record in sandboxes.values
        where record.reporter == scheduler && !listed.contains(record.id) && !record.life.hasEnded {
            apply(
                SandboxReport(sandbox: record.id, pool: record.pool, state: .stopped, reason: "missing from sync"),
                from: scheduler
            )
        }
    }

    private func startProbe(_ id: SandboxID, generation: Int) {
        guard let record = sandboxes[id], let url = record.url, let pool = pools[record.pool] else { return }
        probes[id]?.cancel()
        let probe = self.probe
        let clock = self.clock
        // Owned by `probes`: replaced by the next probe of this sandbox, cancelled when it leaves.
        probes[id] = Task { [weak self] in
            var delay = Duration.milliseconds(50)
            while !Task.isCancelled {
                if await probe.isReady(url: url, health: pool.health) {
                    await self?.admit(id, generation: generation)
                    return
                }
                do { try await clock.sleep(until: clock.now + delay) } catch { return }
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// The host's check of the sandbox passed.
    private func admit(_ id: SandboxID, generation: Int) {
        guard sandboxes[id] != nil else { return }
        probes.removeValue(forKey: id)
        perform(sandboxes[id]!.life.checkPassed(generation: generation), on: id)
        wakeWaiters()
    }

    // MARK: Leases

    /// A lease on the least-loaded admitted sandbox of the app's active version, other than
    /// those in `excluding` (sandboxes a retried request already failed on); waits up to
    /// `wait` for one, then fails with a retryable error. The lease holds `slots`, or with
    /// `minimumSlots` as many as the sandbox has free, from that minimum up to `slots`.
    public func acquire(
        app: AppName,
        service: String,
        slots: Int = 1,
        minimumSlots: Int? = nil,
        wait: Duration = .zero,
        excluding: Set<SandboxID> = []
    ) async throws(CoreError) -> Lease {
        switch try requestLease(
            app: app,
            service: service,
            slots: slots,
            minimumSlots: minimumSlots,
            wait: wait,
            excluding: excluding
        ) {
        case .granted(let lease): return lease
        case .queued(let wait): return try await wait.lease()
        }
    }

    /// `acquire` in two steps: takes a free lease now, or queues the request behind the
    /// earlier ones and returns the wait, so a caller that must keep order can go on.
    public func requestLease(
        app: AppName,
        service: String,
        slots: Int = 1,
        minimumSlots: Int? = nil,
        wait: Duration = .zero,
        excluding: Set<SandboxID> = []
    ) throws(CoreError) -> LeaseRequestOutcome {
        guard knownApps.contains(app) else { throw .unknownApp(app) }
        let slots = min(minimumSlots ?? slots, slots)...slots
        if let lease = allocate(app: app, service: service, slots: slots, excluding: excluding) {
            return .granted(lease)
        }
        guard wait > .zero else { throw noSandbox(app: app, service: service) }
        nextWaiter += 1
        let id = nextWaiter
        let deadline = clock.now + wait
        let (outcome, answer) = AsyncStream.makeStream(of: Result<Lease, CoreError>.self)
        let clock = self.clock
        // Owned by the waiter it times out: cancelled when the waiter is answered or abandoned,
        // and it ends at the deadline; an actor method cannot hold a task group open for it.
        let timeout = Task { [weak self] in
            do { try await clock.sleep(until: deadline) } catch { return }
            await self?.expireWaiter(id)
        }
        waiters.append(
            Waiter(
                id: id,
                app: app,
                service: service,
                slots: slots,
                excluding: excluding,
                answer: answer,
                timeout: timeout
            )
        )
        return .queued(LeaseWait(outcome: outcome) { [weak self] in await self?.abandonWaiter(id) })
    }

    private func expireWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        waiter.answer.yield(.failure(noSandbox(app: waiter.app, service: waiter.service)))
        waiter.answer.finish()
    }

    /// The caller stopped waiting: its place goes, and a lease granted meanwhile comes back.
    private func abandonWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        waiter.timeout?.cancel()
        waiter.answer.finish()
    }

    private func wakeWaiters() {
        var index = 0
        while index < waiters.count {
            let waiter = waiters[index]
            if let lease = allocate(
                app: waiter.app,
                service: waiter.service,
                slots: waiter.slots,
                excluding: waiter.excluding
            ) {
                waiters.remove(at: index)
                waiter.timeout?.cancel()
                if case .dropped = waiter.answer.yield(.success(lease)) { forget(lease: lease.id) }
                waiter.answer.finish()
            } else {
                index += 1
            }
        }
    }

    private func noSandbox(app: AppName, service: String) -> CoreError {
        let why =
            if pausedApps.contains(app) {
                "app \"\(app)\" is paused"
            } else if routing[app]?[service] == nil {
                "app \"\(app)\" has no active version with a service \"\(service)\" yet"
            } else if routing[app]?[service]?.isSubset(of: haltedPools) == true {
                "service \"\(service)\" of app \"\(app)\" is scaled to 0"
            } else {
                "no ready sandbox of app \"\(app)\" service \"\(service)\" has free slots"
            }
        return CoreError(
            code: .noSandbox,
            message: "No sandbox available: \(why)",
            retryAfter: Self.retryAfter
        )
    }

    /// The slots of `record` this host may lease: all of them alone, its share in a cluster.
    private func capacity(of record: SandboxRecord) -> Int? {
        pools[record.pool].map { shares.share(of: $0.slotsPerSandbox, in: record.id.rawValue) }
    }

    /// The nodes changed: this host leases its share of each sandbox's slots from now on. A
    /// share that shrank below what is out gives nothing new until enough comes back.
    public func share(_ shares: NodeShares) {
        self.shares = shares
        wakeWaiters()
    }

    /// From now on, leases go to sandboxes as `preference` says. Preferring its own, the
    /// node gives up its leases on other nodes' sandboxes wherever one of its own serves the
    /// same pool: the requests on them finish, and new ones go to its own. The reason routers
    /// hear is `draining`, whose part for them is the same, so the protocol does not change.
    public func prefer(_ preference: SandboxPreference) {
        guard preference != self.preference else { return }
        self.preference = preference
        guard preference == .ownFirst else { return }
        let ownServing = Set(
            sandboxes.values.filter { $0.life.isServing && !SandboxReporter.isAnotherNode($0.reporter) }.map(\.pool)
        )
        for record in sandboxes.values.sorted(by: { $0.id < $1.id })
        where SandboxReporter.isAnotherNode(record.reporter) && ownServing.contains(record.pool) {
            revokeLeases(onSandbox: record.id, reason: .draining)
        }
    }

    private func allocate(app: AppName, service: String, slots: ClosedRange<Int>, excluding: Set<SandboxID>) -> Lease? {
        guard !pausedApps.contains(app), let servicePools = routing[app]?[service] else { return nil }
        var best: SandboxRecord?
        for record in sandboxes.inPools(servicePools)
        where !haltedPools.contains(record.pool) && !excluding.contains(record.id) {
            guard record.life.isServing, record.url != nil,
                let capacity = capacity(of: record), capacity - record.slotsOut >= slots.lowerBound
            else { continue }
            if let current = best, rank(of: current) <= rank(of: record) { continue }
            best = record
        }
        guard let chosen = best, let pool = pools[chosen.pool], let url = chosen.url,
            let capacity = capacity(of: chosen)
        else { return nil }
        let slots = min(slots.upperBound, capacity - chosen.slotsOut)
        nextLease += 1
        let lease = Lease(
            id: LeaseID("l-\(nextLease)"),
            url: url,
            sandbox: chosen.id,
            app: app,
            version: pool.version,
            service: service,
            slots: slots,
            ttl: leaseTTL
        )
        sandboxes[chosen.id]?.slotsOut += slots
        sandboxes[chosen.id]?.leases.insert(lease.id)
        leases[lease.id] = LeaseRecord(lease: lease, life: LeaseLifecycle(grantedAt: clock.now, ttl: lease.ttl))
        perform([.expireAt(leases[lease.id]!.life.expiresAt)], onLease: lease.id)
        return lease
    }

    /// The lower, the sooner a sandbox gets a lease: by preference, then load, then id.
    private func rank(of record: SandboxRecord) -> (Int, Int, SandboxID) {
        let elsewhere = preference == .ownFirst && SandboxReporter.isAnotherNode(record.reporter) ? 1 : 0
        return (elsewhere, record.slotsOut, record.id)
    }

    /// Does what a transition of lease `id` asks for.
    private func perform(_ actions: [LeaseLifecycle.Action], onLease id: LeaseID) {
        for action in actions {
            guard let record = leases[id] else { return }
            switch action {
            case .expireAt(let deadline):
                record.expiry?.cancel()
                let clock = self.clock
                // Owned by the lease's record: cancelled when its deadline moves or it is forgotten.
                leases[id]?.expiry = Task { [weak self] in
                    do { try await clock.sleep(until: deadline) } catch { return }
                    await self?.deadlinePassed(deadline, ofLease: id)
                }
            case .announce(let reason):
                revocations.publish(
                    LeaseRevocation(leases: [id], sandbox: record.lease.sandbox, app: record.lease.app, reason: reason)
                )
            case .forget:
                forget(lease: id)
            }
        }
    }

    private func deadlinePassed(_ deadline: CoreInstant, ofLease id: LeaseID) {
        guard let record = leases[id] else { return }
        perform(record.life.deadlinePassed(deadline), onLease: id)
    }

    /// Extends a lease by its TTL; a revoked, expired or unknown lease cannot be renewed.
    public func renew(_ id: LeaseID) throws(CoreError) -> Lease {
        guard let record = leases[id], let actions = leases[id]?.life.renew(now: clock.now, ttl: record.lease.ttl)
        else {
            throw CoreError(
                code: .leaseGone,
                message: "Lease \(id) is gone: released, revoked or expired; acquire a new one"
            )
        }
        perform(actions, onLease: id)
        return record.lease
    }

    /// Keeps a lease alive for the requests or stream it still carries, revoked or not: a
    /// revoked lease takes no new requests (`renew` refuses it), but its sandbox must not be
    /// taken as drained while it serves. Nothing happens to a lease that is gone.
    public func keepAlive(_ id: LeaseID) {
        guard let actions = leases[id]?.life.keepAlive(now: clock.now, ttl: leaseTTL) else { return }
        perform(actions, onLease: id)
    }

    /// Of `ids`, those that take no new requests any more: revoked, released or expired. A
    /// follower of `revocations` that fell behind resynchronises from this.
    public func revokedOrGone(among ids: [LeaseID]) -> [LeaseID] {
        ids.filter { leases[$0]?.life.standing != .active }
    }

    /// Says the lease carries a long-lived stream: a draining sandbox that holds one outlives
    /// the request drain timeout, up to the stream drain deadline.
    public func markStream(_ id: LeaseID) {
        leases[id]?.life.carriesStream()
    }

    /// Whether a sandbox of `pool` still holds a stream lease.
    func holdsStreams(pool: PoolID) -> Bool {
        leases.values.contains { $0.life.carries == .stream && sandboxes[$0.lease.sandbox]?.pool == pool }
    }

    /// Gives the lease's slots back; releasing twice, or a lease that is gone, is fine.
    public func release(_ id: LeaseID) {
        forget(lease: id)
    }

    /// The caller found the lease's sandbox broken: it gets no new leases until it is
    /// reported ready again or passes the host's check, and every lease on it is revoked.
    public func invalidate(_ id: LeaseID, reason: String) {
        guard let record = leases[id], sandboxes[record.lease.sandbox] != nil else { return }
        let sandbox = record.lease.sandbox
        logger.notice("sandbox suspect", metadata: ["sandbox": "\(sandbox)", "reason": "\(reason)"])
        perform(sandboxes[sandbox]!.life.invalidated(), on: sandbox)
        forget(lease: id)
    }

    private func revokeLeases(onSandbox id: SandboxID, reason: RevocationReason) {
        guard let sandbox = sandboxes[id] else { return }
        let live = sandbox.leases.sorted().filter { leases[$0]?.life.revoke() == true }
        guard !live.isEmpty else { return }
        let app = pools[sandbox.pool]?.app ?? ""
        revocations.publish(LeaseRevocation(leases: live, sandbox: id, app: app, reason: reason))
    }

    private func forget(lease id: LeaseID) {
        guard let record = leases.removeValue(forKey: id) else { return }
        record.expiry?.cancel()
        let sandbox = record.lease.sandbox
        if sandboxes[sandbox] != nil {
            sandboxes[sandbox]?.slotsOut -= record.lease.slots
            sandboxes[sandbox]?.leases.remove(id)
            signalIfDrained(sandbox)
            if sandboxes[sandbox]?.state == .draining { drainChange.yield() }
        }
        wakeWaiters()
    }

    private func signalIfDrained(_ id: SandboxID) {
        guard let record = sandboxes[id], record.life.owesDrainAnnouncement, record.leases.isEmpty else { return }
        sandboxes[id]?.life.drainAnnounced()
        signal(.drained(pool: record.pool, sandbox: id))
    }

    // MARK: Status

    public func sandboxStatuses(pools wanted: Set<PoolID>) -> [SandboxStatus] {
        sandboxes.inPools(wanted).map { record in
            SandboxStatus(
                id: record.id,
                pool: record.pool,
                state: record.state,
                url: record.url,
                admitted: record.life.admitted,
                suspect: record.life.isSuspect,
                leases: record.leases.count,
                slotsOut: record.slotsOut,
                reason: record.reason,
                reporter: record.reporter
            )
        }
    }
}
