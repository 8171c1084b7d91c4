import BatonCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// The ingress's leases, per app and service, shared by every event loop. Each request
/// takes one slot of a cached lease; a lease never carries more requests than its slots.
/// Revoked leases take no new requests and are released once their last request ends,
/// which is what lets a draining sandbox finish draining.
public final class LeaseCache: Sendable {
    /// A request waiting for a slot: a slot given back on any loop goes to it at once,
    /// rather than sit idle while the request waits on the broker.
    struct Waiter: Sendable {
        var id: Int
        var key: LeaseShelf.Key
        var excluding: Set<SandboxID>
        var deliver: @Sendable (Lease) -> Void
    }

    struct Waiters {
        var queue: [Waiter] = []
        var nextID = 0
    }

    private let broker: LeaseBroker
    private let slotsPerLease: Int
    private let logger: Logger
    private let metrics: IngressMetrics
    /// Every loop's shelf, looked up once per connection and walked on a miss and by
    /// maintenance; `offLoop` holds the leases of callers outside the event loops.
    private let shelves = NIOLockedValueBox<[ObjectIdentifier: LeaseShelf]>([:])
    package let offLoop = LeaseShelf()
    private let revocationListeners = NIOLockedValueBox<[@Sendable ([LeaseID]) -> Void]>([])
    /// Taken only under a shelf's lock or alone, never the other way round.
    private let waiters = NIOLockedValueBox(Waiters())
    /// When the next maintenance is due.
    private let maintenanceAt = NIOLockedValueBox<CoreInstant?>(nil)
    /// How many requests wait: a slot given back looks at the waiters only when some do.
    private let waiting = Atomic<Int>(0)
    /// Response header timeouts in a row, per sandbox, and how many sandboxes have some,
    /// so that an answer looks at the counts only when there are any.
    private let timeouts = NIOLockedValueBox<[SandboxID: Int]>([:])
    private let sandboxesTimingOut = Atomic<Int>(0)

    /// Timeouts in a row that make a sandbox suspect.
    static let timeoutsBeforeSuspect = 2

    /// A lease unused this long is released.
    static let idleRelease = Duration.seconds(10)
    /// How often leases in use are renewed: a third of the lease TTL, so two renewals may be
    /// late before one expires, and at most every 5 s.
    private let maintenanceInterval: Duration
    /// The core's clock: renewals keep time with the leases they renew.
    private let clock: any CoreClock

    public init(
        broker: LeaseBroker,
        clock: any CoreClock,
        slotsPerLease: Int,
        logger: Logger,
        metrics: IngressMetrics = .disabled
    ) {
        self.broker = broker
        self.clock = clock
        self.maintenanceInterval = min(.seconds(5), broker.leaseTTL / 3)
        self.slotsPerLease = slotsPerLease
        self.logger = logger
        self.metrics = metrics
        shelves.withLockedValue { $0[ObjectIdentifier(offLoop)] = offLoop }
    }

    /// `loop`'s shelf, made on first use; a connection looks it up once.
    func shelf(for loop: any EventLoop) -> LeaseShelf {
        shelves.withLockedValue { shelves in
            if let shelf = shelves[ObjectIdentifier(loop)] { return shelf }
            let shelf = LeaseShelf()
            shelves[ObjectIdentifier(loop)] = shelf
            return shelf
        }
    }

    private var allShelves: [LeaseShelf] {
        shelves.withLockedValue { Array($0.values) }
    }

    /// Runs `action` with the ids of every lease revoked from now on, after the cache has
    /// marked them; the tunnel registry closes its streams from it.
    func onRevocation(_ action: @escaping @Sendable ([LeaseID]) -> Void) {
        revocationListeners.withLockedValue { $0.append(action) }
    }

    /// Follows revocations and renews the leases in use until cancelled, then gives every
    /// lease back; run by the ingress that owns the cache, for as long as it serves.
    public func run() async {
        let interval = maintenanceInterval
        let clock = self.clock
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                let bus = broker.revocations
                await Self.followRevocations(subscribe: { bus.subscribe() }) { ids, reason in
                    self.revoked(ids, reason: reason)
                } resync: {
                    await self.resynchronise()
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    let wake = clock.now + interval
                    maintenanceAt.withLockedValue { $0 = wake }
                    do { try await clock.sleep(until: wake) } catch { return }
                    await maintain()
                }
            }
        }
        await releaseAll()
    }

    /// Follows the broker's revocations until cancelled. A stream that ends because this
    /// follower fell behind is never the end: it subscribes again, then resynchronises, so
    /// no revocation is missed and none stays unseen.
    static func followRevocations(
        subscribe: () -> AsyncStream<LeaseRevocation>,
        revoked: @escaping @Sendable (Set<LeaseID>, String) -> Void,
        resync: @Sendable () async -> Void
    ) async {
        var revocations = subscribe()
        while !Task.isCancelled {
            for await revocation in revocations { revoked(Set(revocation.leases), revocation.reason.rawValue) }
            guard !Task.isCancelled else { return }
            revocations = subscribe()
            await resync()
        }
    }

    /// Asks the broker which cached leases are revoked or gone and treats them as revoked.
    private func resynchronise() async {
        let ids = allShelves.flatMap(\.leaseIDs)
        let stale = await broker.revokedOrGone(among: ids)
        logger.warning(
            "lease revocations fell behind; resynchronised",
            metadata: ["revoked": "\(stale.count)", "cached": "\(ids.count)"]
        )
        revoked(Set(stale), reason: "resync")
    }

    private func revoked(_ ids: Set<LeaseID>, reason: String) {
        markRevoked(ids, reason: reason)
        for listener in revocationListeners.withLockedValue({ $0 }) { listener(Array(ids)) }
    }

    private func releaseAll() async {
        for id in allShelves.flatMap({ $0.removeAll() }) { await broker.release(id) }
    }

    /// One slot of a cached lease on a sandbox not in `excluding`, when one is free: from
    /// `shelf` (the caller's loop's), else from another loop's.
    func checkoutCached(
        app: AppName,
        service: String,
        excluding: Set<SandboxID>,
        from shelf: LeaseShelf
    ) -> Lease? {
        let key = LeaseShelf.Key(app: app, service: service)
        let now = clock.now
        if let lease = shelf.take(key, excluding: excluding, now: now) { return lease }
        for other in allShelves where other !== shelf {
            if let lease = other.take(key, excluding: excluding, now: now) { return lease }
        }
        return nil
    }

    /// A new lease from the broker, waiting up to `wait` for a sandbox, kept on `shelf`; the
    /// caller holds one of its slots.
    package func checkoutNew(
        app: AppName,
        service: String,
        wait: Duration,
        excluding: Set<SandboxID>,
        onto shelf: LeaseShelf
    ) async throws(CoreError) -> Lease {
        // As many slots as the sandbox has free, up to a full lease: one free slot is enough
        // to serve, so a sandbox offering fewer slots than a full lease serves at once.
        let lease = try await broker.acquire(
            app: app,
            service: service,
            slots: slotsPerLease,
            minimumSlots: 1,
            wait: wait,
            excluding: excluding
        )
        metrics.leaseAcquired(app: app)
        shelf.add(lease, now: clock.now)
        return lease
    }

    /// `checkoutNew` for event-loop code: `then` runs on `loop` with the outcome, which is
    /// the broker's lease or a slot another request gave back first.
    func checkoutNew(
        app: AppName,
        service: String,
        wait: Duration,
        excluding: Set<SandboxID>,
        onto shelf: LeaseShelf,
        on loop: any EventLoop,
        then: NIOLoopBound<(Result<Lease, CoreError>) -> Void>
    ) {
        let key = LeaseShelf.Key(app: app, service: service)
        let waiter = waiters.withLockedValue { waiters -> Int in
            waiters.nextID += 1
            let deliver: @Sendable (Lease) -> Void = { lease in loop.execute { then.value(.success(lease)) } }
            waiters.queue.append(Waiter(id: waiters.nextID, key: key, excluding: excluding, deliver: deliver))
            waiting.add(1, ordering: .relaxed)
            return waiters.nextID
        }
        // Event-loop code asked: it gets the answer back on its loop through `then`.
        Task {
            let result = await Self.outcome { () async throws(CoreError) in
                try await self.checkoutNew(app: app, service: service, wait: wait, excluding: excluding, onto: shelf)
            }
            let stillWaiting = self.waiters.withLockedValue { waiters -> Bool in
                guard let index = waiters.queue.firstIndex(where: { $0.id == waiter }) else { return false }
                waiters.queue.remove(at: index)
                self.waiting.subtract(1, ordering: .relaxed)
                return true
            }
            if stillWaiting {
                loop.execute { then.value(result) }
            } else if case .success(let lease) = result {
                self.checkin(lease, to: shelf)  // served from the cache meanwhile: this slot goes back
            }
        }
    }

    private static func outcome(_ body: () async throws(CoreError) -> Lease) async -> Result<Lease, CoreError> {
        do throws(CoreError) { return .success(try await body()) } catch { return .failure(error) }
    }

    /// The lease now carries a long-lived stream (see `LeaseBroker.markStream`).
    package func markStream(_ lease: Lease) {
        let broker = self.broker
        Task { await broker.markStream(lease.id) }  // called on an event loop, which must not await the actor
    }

    /// Gives back the slot a request held, or hands it straight to a request waiting for one.
    /// The lease is looked for on `shelf` first, where it nearly always is.
    package func checkin(_ lease: Lease, to shelf: LeaseShelf) {
        var handover: Waiter?
        let handOver = { [self] () -> Bool in
            guard waiting.load(ordering: .relaxed) > 0 else { return false }
            handover = takeWaiter(for: lease)
            return handover != nil
        }
        let now = clock.now
        var outcome = shelf.giveBack(lease, now: now, handOver: handOver)
        if outcome == .notHere {
            for other in allShelves where other !== shelf {
                outcome = other.giveBack(lease, now: now, handOver: handOver)
                if outcome != .notHere { break }
            }
        }
        if let handover {
            handover.deliver(lease)
        } else if outcome == .released {
            let broker = self.broker
            Task { await broker.release(lease.id) }  // from an event loop: a hop to the actor, nothing waits for it
        }
    }

    /// The first request waiting for a slot of `lease`'s app and service that may go to its
    /// sandbox, taken off the queue.
    private func takeWaiter(for lease: Lease) -> Waiter? {
        let key = LeaseShelf.Key(app: lease.app, service: lease.service)
        return waiters.withLockedValue { waiters in
            guard
                let index = waiters.queue.firstIndex(where: { $0.key == key && !$0.excluding.contains(lease.sandbox) })
            else { return nil }
            waiting.subtract(1, ordering: .relaxed)
            return waiters.queue.remove(at: index)
        }
    }

    /// Counts a response header timeout on `lease`'s sandbox; true when it has had enough of
    /// them in a row to be taken out.
    func responseTimedOut(_ lease: Lease) -> Bool {
        timeouts.withLockedValue { counts in
            if counts[lease.sandbox] == nil { sandboxesTimingOut.add(1, ordering: .relaxed) }
            counts[lease.sandbox, default: 0] += 1
            guard counts[lease.sandbox]! >= Self.timeoutsBeforeSuspect else { return false }
            counts[lease.sandbox] = nil
            sandboxesTimingOut.subtract(1, ordering: .relaxed)
            return true
        }
    }

    /// The sandbox answered: its count of timeouts in a row starts again.
    func responded(_ lease: Lease) {
        guard sandboxesTimingOut.load(ordering: .relaxed) > 0 else { return }
        timeouts.withLockedValue { counts in
            if counts.removeValue(forKey: lease.sandbox) != nil { sandboxesTimingOut.subtract(1, ordering: .relaxed) }
        }
    }

    /// The request could not reach `lease`'s sandbox: no request of this cache goes there
    /// again, and the broker takes the sandbox out until it proves itself again.
    func invalidate(_ lease: Lease, reason: String) async {
        let idle = allShelves.flatMap { $0.revokeSandbox(lease.sandbox, also: lease.id) }
        logger.notice("sandbox unreachable", metadata: ["sandbox": "\(lease.sandbox)", "reason": "\(reason)"])
        await broker.invalidate(lease.id, reason: reason)
        for id in idle where id != lease.id { await broker.release(id) }
    }

    private func markRevoked(_ ids: Set<LeaseID>, reason: String) {
        let metrics = self.metrics
        let idle = allShelves.flatMap { $0.revoke(ids) { metrics.leaseRevoked(app: $0, reason: reason) } }
        for id in idle {
            let broker = self.broker
            Task { await broker.release(id) }  // from a revocation follower: a hop to the actor, nothing waits for it
        }
    }

    /// Whether a maintenance whose time has come has not run to its end yet: the simulation
    /// waits for it before it moves its clock on.
    package var maintenanceDue: Bool {
        maintenanceAt.withLockedValue { $0 }.map { $0 <= clock.now } ?? false
    }

    /// Renews leases in use or used lately and releases the rest. A revoked lease still
    /// carrying requests or a stream is kept alive: its sandbox drains until they end, or
    /// until the stream drain deadline closes them, whatever the lease TTL.
    private func maintain() async {
        let now = clock.now
        for shelf in allShelves {
            let (renew, keepAlive, release) = shelf.sort(now: now, idleRelease: Self.idleRelease)
            for id in release { await broker.release(id) }
            for id in renew {
                do { _ = try await broker.renew(id) } catch { revoked([id], reason: "renewal refused") }
            }
            for id in keepAlive { await broker.keepAlive(id) }
        }
    }
}
