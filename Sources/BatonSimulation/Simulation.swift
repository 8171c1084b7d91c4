import BatonCore
import BatonIngress
import BatonJSON
import Logging

/// A seeded, replayable run of the real `Launcher` and `LeaseBroker` against a simulated
/// scheduler, routers, streams, faults and a clock that jumps past every TTL and deadline;
/// the invariants are checked after every step. Run single-threaded with deterministic
/// hashing (`scripts/simulate` sets both), a seed replays exactly.
public final class Simulation {
    public struct Options: Sendable {
        public var seed: UInt64
        public var steps: Int

        public init(seed: UInt64, steps: Int) {
            self.seed = seed
            self.steps = steps
        }
    }

    /// What a run did, and the most each collection held at once.
    public struct Report: Sendable {
        public var steps = 0
        public var deploys = 0
        public var cutovers = 0
        public var failedDeploys = 0
        public var restarts = 0
        public var faults = 0
        public var most: [String: Int] = [:]

        public init() {}

        /// Adds `other`'s counts and keeps the larger of each most.
        public mutating func add(_ other: Report) {
            steps += other.steps
            deploys += other.deploys
            cutovers += other.cutovers
            failedDeploys += other.failedDeploys
            restarts += other.restarts
            faults += other.faults
            for (name, count) in other.most { most[name] = max(most[name] ?? 0, count) }
        }

        public var summary: String {
            let held = most.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return
                "\(deploys) deploys, \(cutovers) cutovers, \(failedDeploys) rolled back, \(faults) faults, \(restarts) restarts; most held: \(held)"
        }
    }

    static let leaseTTL = Duration.seconds(5)
    static let streamDrain = Duration.seconds(60)
    static let apps: [AppName] = ["a0", "a1"]
    /// The specs an app is deployed with; a spec deployed again is a rollback to it.
    static let specs: [(image: String, instances: Int)] = [("good-0", 1), ("good-1", 2), ("good-2", 1), ("broken", 1)]

    let options: Options
    var random: SeededGenerator
    let clock = ManualClock()
    let world = SimulatedWorld()
    let store = MemoryStore()
    var host: SimulatedHost!
    var scheduler = SimulatedScheduler()
    var leases: [Lease] = []
    var streams: [Lease] = []
    /// When each sandbox started draining, from the launcher's events.
    var drainingSince: [SandboxID: CoreInstant] = [:]
    var cutoverAt: [DeploymentID: CoreInstant] = [:]
    var versions = VersionBook()
    var trace: [String] = []
    var report = Report()
    var step = 0
    /// Reports were reordered, duplicated or lost since the last sync: until the scheduler
    /// syncs again the host may rightly believe stale news, so every step counts as a fault.
    var reportsDisordered = false
    /// Sandboxes that died and whose death the host has not heard of: the step that tells
    /// it is part of the fault.
    var unreportedDeaths: Set<SandboxID> = []
    /// Set by a restart: what the launcher held before, to compare with what came back.
    var restartCheck: RestartCheck?
    /// When each operator's stop of a pool began, and its drain timeout.
    var stopStarted: [PoolID: (at: CoreInstant, drain: Duration)] = [:]
    /// A promise an action saw broken, reported by the next check.
    var violation: (invariant: String, detail: String)?

    public init(options: Options) {
        self.options = options
        random = SeededGenerator(seed: options.seed)
    }

    public func run() async throws(InvariantBroken) -> Report {
        host = await SimulatedHost.boot(clock: clock, world: world, store: store)
        resubscribe()
        for index in 1...options.steps {
            step = index
            let before = await Snapshot.take(self)
            let kind = await act()
            await settle()
            try await check(after: kind, before: before)
            report.steps = index
        }
        await host.stop()
        return report
    }

    /// Lets every job the step caused run: the host's actors, timers and probes, and at least
    /// until the launcher has handled every signal of the broker and run every alarm whose
    /// time has come to the end (a handling that awaits the broker must not be seen half done).
    func settle() async {
        while true {
            for _ in 0..<64 { await Task.yield() }
            let signalsLeft = await host.broker.signalsSent != host.launcher.signalsHandled
            if !signalsLeft, await !host.launcher.alarmsDue, !host.cache.maintenanceDue { break }
        }
        absorbInboxes()
    }

    func note(_ line: String) {
        trace.append("\(step) t=\(clock.now.sinceStart.milliseconds): \(line)")
        if trace.count > 400 { trace.removeFirst(200) }
    }

    func absorbInboxes() {
        for update in host.desired.take() { scheduler.apply(update.pools) }
        for event in host.events.take() {
            if [.deployCutover, .poolScaledDown, .deployDone, .deployFailed, .deploySuperseded].contains(event.type) {
                note(
                    "  host: \(event.type.rawValue) \(event.app) \(event.deployment?.rawValue ?? "") \(event.pool?.rawValue ?? "") \(event.reason ?? "")"
                )
            }
            switch event.type {
            case .sandboxDraining: if let sandbox = event.sandbox { drainingSince[sandbox] = event.time }
            case .deployCutover:
                if let deployment = event.deployment { cutoverAt[deployment] = event.time }
                report.cutovers += 1
            case .deployFailed: report.failedDeploys += 1
            default: break
            }
        }
    }

    func resubscribe() {
        scheduler.desired = [:]
        scheduler.apply(host.snapshot)
    }

    func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[Int.random(in: 0..<items.count, using: &random)]
    }
}

/// The host's core as a restart sees it: the two actors and what the simulation hears
/// from them.
struct SimulatedHost {
    let broker: LeaseBroker
    let launcher: Launcher
    /// The ingress's lease cache, as the ingress uses it for streams: it renews and keeps
    /// alive on the simulated clock.
    let cache: LeaseCache
    let desired: Inbox<DesiredUpdate>
    let events: Inbox<CoreEvent>
    let snapshot: [DesiredPool]
    let followers: [Task<Void, Never>]

    static func boot(clock: ManualClock, world: SimulatedWorld, store: MemoryStore) async -> SimulatedHost {
        let (broker, launcher, logger) = Simulation.core(clock: clock, world: world)
        do { try await launcher.restore(from: store) } catch {
            fatalError("the simulated store failed to load: \(error)")
        }
        let cache = LeaseCache(broker: broker, clock: clock, slotsPerLease: 2, logger: logger)
        let desired = Inbox<DesiredUpdate>()
        let events = Inbox<CoreEvent>()
        let eventStream = launcher.events.subscribe()
        let (_, snapshot, updates) = await launcher.subscribeScheduler(name: "sim")
        // Held in `followers` and cancelled by `stop()`: they outlive this boot function, and
        // all four feed the simulation's step loop, which owns no task group across steps.
        let followers = [
            Task { await launcher.followSignals() },
            Task { await cache.run() },
            Task { for await update in updates { desired.put(update) } },
            Task { for await event in eventStream { events.put(event) } },
        ]
        return SimulatedHost(
            broker: broker,
            launcher: launcher,
            cache: cache,
            desired: desired,
            events: events,
            snapshot: snapshot,
            followers: followers
        )
    }

    func stop() async {
        for follower in followers { follower.cancel() }
        for follower in followers { await follower.value }  // the cache gives its leases back
        await launcher.stop()
    }
}
