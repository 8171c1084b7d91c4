import BatonCore
import NIOConcurrencyHelpers

/// The leases one event loop took from the broker, with the slots its requests hold. A
/// request checks a slot out of its own loop's shelf, so loops do not contend for one lock;
/// another loop's shelf is looked at only when this one has no free slot.
package final class LeaseShelf: Sendable {
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

    /// What giving a slot back did to its lease.
    enum Return {
        /// The lease is not on this shelf.
        case notHere
        /// The slot is free again, or stays with the lease's requests.
        case kept
        /// The slot is free and the lease active: a waiting request may take it.
        case freed
        /// The lease was revoked and this was its last request: the broker gets it back.
        case released
    }

    private let entries = NIOLockedValueBox<[Key: [LeaseID: Entry]]>([:])

    /// One slot of an active lease on a sandbox not in `excluding`, the one with fewest
    /// requests, when one is free.
    func take(_ key: Key, excluding: Set<SandboxID>, now: CoreInstant) -> Lease? {
        entries.withLockedValue { shelf in
            guard let leases = shelf[key] else { return nil }
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
            shelf[key]![chosen]!.inUse += 1
            shelf[key]![chosen]!.lastUsed = now
            return shelf[key]![chosen]!.lease
        }
    }

    /// A lease the broker just granted, with one slot held by the request that asked.
    func add(_ lease: Lease, now: CoreInstant) {
        var entry = Entry(lease: lease, lastUsed: now)
        entry.inUse = 1
        entries.withLockedValue { shelf in
            shelf[Key(app: lease.app, service: lease.service), default: [:]][lease.id] = entry
        }
    }

    /// Gives back a slot of `lease`; `handOver` may claim a freed slot of an active lease for
    /// a waiting request (it runs under this shelf's lock and must not take another shelf's).
    func giveBack(_ lease: Lease, now: CoreInstant, handOver: () -> Bool) -> Return {
        entries.withLockedValue { shelf in
            let key = Key(app: lease.app, service: lease.service)
            guard var entry = shelf[key]?[lease.id] else { return .notHere }
            entry.lastUsed = now
            if entry.standing == .active, handOver() {
                shelf[key]![lease.id] = entry  // the slot stays in use, by the waiter now
                return .kept
            }
            entry.inUse -= 1
            if entry.standing == .revoked && entry.inUse == 0 {
                shelf[key]!.removeValue(forKey: lease.id)
                return .released
            }
            shelf[key]![lease.id] = entry
            return entry.standing == .active ? .freed : .kept
        }
    }

    var leaseIDs: [LeaseID] {
        entries.withLockedValue { shelf in shelf.values.flatMap(\.keys) }
    }

    /// Empties the shelf; the leases it held, for the broker.
    func removeAll() -> [LeaseID] {
        entries.withLockedValue { shelf in
            defer { shelf = [:] }
            return shelf.values.flatMap(\.keys)
        }
    }

    /// Revokes every lease on `sandbox`; the ones no request holds (and `also`), for the broker.
    func revokeSandbox(_ sandbox: SandboxID, also: LeaseID) -> [LeaseID] {
        entries.withLockedValue { shelf in
            var idle: [LeaseID] = []
            for (key, leases) in shelf {
                for (id, entry) in leases where entry.lease.sandbox == sandbox {
                    shelf[key]![id]!.standing = .revoked
                    if entry.inUse == 0 || id == also { idle.append(id) }
                }
            }
            return idle
        }
    }

    /// Revokes `ids`: idle ones leave the shelf and are returned for the broker; ones in use
    /// stay, revoked, until their last request ends. `counted` hears of each revoked lease.
    func revoke(_ ids: Set<LeaseID>, counted: (AppName) -> Void) -> [LeaseID] {
        entries.withLockedValue { shelf in
            var idle: [LeaseID] = []
            for (key, leases) in shelf {
                for (id, entry) in leases where ids.contains(id) {
                    counted(key.app)
                    if entry.inUse == 0 {
                        shelf[key]!.removeValue(forKey: id)
                        idle.append(id)
                    } else {
                        shelf[key]![id]!.standing = .revoked
                    }
                }
            }
            return idle
        }
    }

    /// What maintenance does with each lease: renew the active ones in use or used lately,
    /// keep alive revoked ones still carrying requests, and release the rest (now off the shelf).
    func sort(now: CoreInstant, idleRelease: Duration) -> (renew: [LeaseID], keepAlive: [LeaseID], release: [LeaseID]) {
        entries.withLockedValue { shelf in
            var sorted: (renew: [LeaseID], keepAlive: [LeaseID], release: [LeaseID]) = ([], [], [])
            for (key, leases) in shelf {
                for (id, entry) in leases {
                    if entry.standing == .revoked {
                        if entry.inUse > 0 { sorted.keepAlive.append(id) }
                    } else if entry.inUse > 0 || now - entry.lastUsed < idleRelease {
                        sorted.renew.append(id)
                    } else {
                        shelf[key]!.removeValue(forKey: id)
                        sorted.release.append(id)
                    }
                }
            }
            return sorted
        }
    }
}
