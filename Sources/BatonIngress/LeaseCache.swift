import BatonCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The ingress's leases, per app and service, shared by every event loop. Each request
/// takes one slot of a cached lease; a lease never carries more requests than its slots.
/// Revoked leases take no new requests and are released once their last request ends,
/// which is what lets a draining sandbox finish draining.
public final class LeaseCache: Sendable {
    struct Key: Hashable {
        var app: AppName
        var service: String
    }

    struct Entry {
        var lease: Lease
        var inUse = 0
        var standing = LeaseStanding.active
        var lastUsed: CoreInstant
    }

    /// A request waiting for a slot: a slot given back to this cache goes to it at once,
    /// rather than sit idle while the request waits on the broker.
    struct Waiter: Sendable {
        var id: Int
        var excluding: Set<SandboxID>
        var deliver: @Sendable (Lease) -> Void
    }

    /// The leases and the requests waiting for one, under one lock so that a slot given
    /// back is either free or handed on, never both.
    struct Shelf {
        var leases: [Key: [LeaseID: Entry]] = [:]
        var waiters: [Key: [Waiter]] = [:]
        var nextWaiter = 0
    }

    private let broker: LeaseBroker
    private let slotsPerLease: Int
    private let logger: Logger
    private let metrics: IngressMetrics
    private let entries = NIOLockedValueBox(Shelf())
    private let revocationListeners = NIOLockedValueBox<[@Sendable ([LeaseID]) -> Void]>([])
    /// Response header timeouts in a row, per sandbox.
    private let timeouts = NIOLockedValueBox<[SandboxID: Int]>([:])

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
                    do { try await clock.sleep(until: clock.now + interval) } catch { return }
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
        let ids = entries.withLockedValue { shelf in shelf.leases.values.flatMap(\.keys) }
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
        let all = entries.withLockedValue { shelf -> [Entry] in
            defer { shelf.leases = [:] }
            return shelf.leases.values.flatMap(\.values)
        }
        for entry in all { await broker.release(entry.lease.id) }
    }

    /// One slot of a cached lease on a sandbox not in `excluding`, when one is free.
    package func checkoutCached(app: AppName, service: String, excluding: Set<SandboxID>) -> Lease? {
        entries.withLockedValue { shelf in
            let key = Key(app: app, service: service)
            guard let leases = shelf.leases[key] else { return nil }
            var chosen: LeaseID?
            var fewest = Int.max
            for (id, entry) in leases
            where entry.standing == .active && entry.inUse < entry.lease.slots && entry.inUse < fewest
                && !excluding.contains(entry.lease.sandbox)
            {
                chosen = id
                fewest = entry.inUse
            }
            guard let chosen else { return nil }
            shelf.leases[key]![chosen]!.inUse += 1
            shelf.leases[key]![chosen]!.lastUsed = clock.now
            return shelf.leases[key]![chosen]!.lease
        }
    }

    /// A new lease from the broker, waiting up to `wait` for a sandbox; the caller holds
    /// one of its slots.
    package func checkoutNew(
        app: AppName,
        service: String,
        wait: Duration,
        excluding: Set<SandboxID>
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
        let key = Key(app: app, service: service)
        entries.withLockedValue { shelf in
            var entry = Entry(lease: lease, lastUsed: clock.now)
            entry.inUse = 1
            shelf.leases[key, default: [:]][lease.id] = entry
        }
        return lease
    }

    /// `checkoutNew` for event-loop code: `then` runs on `loop` with the outcome, which is
    /// the broker's lease or a slot another request of this cache gave back first.
    func checkoutNew(
        app: AppName,
        service: String,
        wait: Duration,
        excluding: Set<SandboxID>,
        on loop: any EventLoop,
        then: NIOLoopBound<(Result<Lease, CoreError>) -> Void>
    ) {
        let key = Key(app: app, service: service)
        let waiter = entries.withLockedValue { shelf -> Int in
            shelf.nextWaiter += 1
            let id = shelf.nextWaiter
            shelf.waiters[key, default: []].append(
                Waiter(id: id, excluding: excluding, deliver: { lease in loop.execute { then.value(.success(lease)) } })
            )
            return id
        }
        // Event-loop code asked: it gets the answer back on its loop through `then`.
        Task {
            let result = await Self.outcome { () async throws(CoreError) in
                try await self.checkoutNew(app: app, service: service, wait: wait, excluding: excluding)
            }
            let stillWaiting = self.entries.withLockedValue { shelf -> Bool in
                guard let index = shelf.waiters[key]?.firstIndex(where: { $0.id == waiter }) else { return false }
                shelf.waiters[key]?.remove(at: index)
                return true
            }
            if stillWaiting {
                loop.execute { then.value(result) }
            } else if case .success(let lease) = result {
                self.checkin(lease)  // served from the cache meanwhile: this slot goes back
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
    package func checkin(_ lease: Lease) {
        let key = Key(app: lease.app, service: lease.service)
        let (release, handover) = entries.withLockedValue { shelf -> (Bool, Waiter?) in
            guard var entry = shelf.leases[key]?[lease.id] else { return (false, nil) }
            entry.lastUsed = clock.now
            if entry.standing == .active,
                let index = shelf.waiters[key]?.firstIndex(where: { !$0.excluding.contains(lease.sandbox) })
            {
                shelf.leases[key]?[lease.id] = entry  // the slot stays in use, by the waiter now
                return (false, shelf.waiters[key]?.remove(at: index))
            }
            entry.inUse -= 1
            if entry.standing == .revoked && entry.inUse == 0 {
                shelf.leases[key]?.removeValue(forKey: lease.id)
                return (true, nil)
            }
            shelf.leases[key]?[lease.id] = entry
            return (false, nil)
        }
        if let handover {
            handover.deliver(lease)
        } else if release {
            let broker = self.broker
            Task { await broker.release(lease.id) }  // from an event loop: a hop to the actor, nothing waits for it
        }
    }

    /// Counts a response header timeout on `lease`'s sandbox; true when it has had enough of
    /// them in a row to be taken out.
    func responseTimedOut(_ lease: Lease) -> Bool {
        timeouts.withLockedValue { counts in
            counts[lease.sandbox, default: 0] += 1
            guard counts[lease.sandbox]! >= Self.timeoutsBeforeSuspect else { return false }
            counts[lease.sandbox] = nil
            return true
        }
    }

    /// The sandbox answered: its count of timeouts in a row starts again.
    func responded(_ lease: Lease) {
        timeouts.withLockedValue { counts in
            if !counts.isEmpty { counts[lease.sandbox] = nil }
        }
    }

    /// The request could not reach `lease`'s sandbox: no request of this cache goes there
    /// again, and the broker takes the sandbox out until it proves itself again.
    func invalidate(_ lease: Lease, reason: String) async {
        let sandbox = lease.sandbox
        let idle = entries.withLockedValue { shelf -> [LeaseID] in
            var idle: [LeaseID] = []
            for (key, leases) in shelf.leases {
                for (id, entry) in leases where entry.lease.sandbox == sandbox {
                    shelf.leases[key]?[id]?.standing = .revoked
                    if entry.inUse == 0 || id == lease.id { idle.append(id) }
                }
            }
            return idle
        }
        logger.notice("sandbox unreachable", metadata: ["sandbox": "\(sandbox)", "reason": "\(reason)"])
        await broker.invalidate(lease.id, reason: reason)
        for id in idle where id != lease.id { await broker.release(id) }
    }

    private func markRevoked(_ ids: Set<LeaseID>, reason: String) {
        let idle = entries.withLockedValue { shelf -> [LeaseID] in
            var idle: [LeaseID] = []
            for (key, leases) in shelf.leases {
                for (id, entry) in leases where ids.contains(id) {
                    metrics.leaseRevoked(app: key.app, reason: reason)
                    if entry.inUse == 0 {
                        shelf.leases[key]?.removeValue(forKey: id)
                        idle.append(id)
                    } else {
                        shelf.leases[key]?[id]?.standing = .revoked
                    }
                }
            }
            return idle
        }
        for id in idle {
            let broker = self.broker
            Task { await broker.release(id) }  // from under the lock: a hop to the actor, nothing waits for it
        }
    }

    /// Renews leases in use or used lately and releases the rest. A revoked lease still
    /// carrying requests or a stream is kept alive: its sandbox drains until they end, or
    /// until the stream drain deadline closes them, whatever the lease TTL.
    private func maintain() async {
        let now = clock.now
        let (renew, keepAlive, release) = entries.withLockedValue { shelf -> ([LeaseID], [LeaseID], [LeaseID]) in
            var renew: [LeaseID] = []
            var keepAlive: [LeaseID] = []
            var release: [LeaseID] = []
            for (key, leases) in shelf.leases {
                for (id, entry) in leases {
                    if entry.standing == .revoked {
                        if entry.inUse > 0 { keepAlive.append(id) }
                    } else if entry.inUse > 0 || now - entry.lastUsed < Self.idleRelease {
                        renew.append(id)
                    } else {
                        shelf.leases[key]?.removeValue(forKey: id)
                        release.append(id)
                    }
                }
            }
            return (renew, keepAlive, release)
        }
        for id in release { await broker.release(id) }
        for id in renew {
            do { _ = try await broker.renew(id) } catch { revoked([id], reason: "renewal refused") }
        }
        for id in keepAlive { await broker.keepAlive(id) }
    }
}
