import BatonJSON
import BatonProtocol
import BatonRPC

/// The leases of one router session, kept as PROTOCOL.md asks (§4 Router role, §5 What a
/// router MUST do): a lease is shared by up to its `slots` requests at once; while `run` runs
/// it is renewed a third of its ttl after it was taken or last renewed, two tries before it
/// would expire; a revoked lease takes no new request
/// and is released after its last one; `invalidate` reports a broken sandbox, and the caller
/// retries with that sandbox in `excluding`; `close` releases every lease.
///
/// `run` reads the session's notifications: give it a session of its own, opened as a router.
public actor RouterLeases {
    private enum Standing {
        case active
        /// Takes no new request; released once `inFlight` is 0.
        case revoked
    }

    private struct Held {
        var lease: LeaseMessage
        var inFlight = 1
        var standing = Standing.active
    }

    private let session: BatonSession
    private let slots: Int
    private let wait: Duration
    private var held: [String: Held] = [:]
    /// Hands each lease taken to `run`, which keeps it renewed.
    private var newLeases: AsyncStream<LeaseMessage>.Continuation?

    /// The leases of each revocation once it has taken effect here, for a router that must
    /// also end what runs on them (a stream past its deadline). The newest 64 are kept for a
    /// reader that falls behind.
    public nonisolated let revocations: AsyncStream<[String]>
    private let revocationsTaken: AsyncStream<[String]>.Continuation

    public init(session: BatonSession, slots: Int = 16, wait: Duration = .seconds(5)) {
        self.session = session
        self.slots = slots
        self.wait = wait
        (revocations, revocationsTaken) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(64))
    }

    /// A lease of `app`'s `service` with a free slot, on a sandbox not in `excluding`: one held
    /// already, or a new one the host hands out within `wait` (else its `RPCError`, 2001).
    public func checkout(app: String, service: String = "web", excluding: Set<String> = []) async throws -> LeaseMessage
    {
        if let id = held.keys.sorted().first(where: { id in
            let entry = held[id]!
            return entry.lease.app == app && entry.lease.service == service && entry.standing == .active
                && !excluding.contains(entry.lease.sandbox) && entry.inFlight < entry.lease.slots
        }) {
            held[id]!.inFlight += 1
            return held[id]!.lease
        }
        let params: JSON = [
            "app": .string(app), "service": .string(service), "slots": .int(Int64(slots)),
            "waitMs": .int(wait.milliseconds), "exclude": .array(excluding.sorted().map(JSON.string)),
        ]
        guard let lease = LeaseMessage(json: try await session.call(.leaseAcquire, params)) else {
            throw RPCError.internalError("lease.acquire answered something that is not a lease")
        }
        held[lease.lease] = Held(lease: lease)
        newLeases?.yield(lease)
        return lease
    }

    /// One request on `lease` is done.
    public func checkin(_ lease: LeaseMessage) async {
        held[lease.lease]?.inFlight -= 1
        await releaseIfDone(lease.lease)
    }

    /// `lease`'s sandbox could not be reached: it gets no new request until the host sees it
    /// healthy again. Check the request's lease in as usual.
    public func invalidate(_ lease: LeaseMessage, reason: String) async {
        _ = try? await session.call(.leaseInvalidate, ["lease": .string(lease.lease), "reason": .string(reason)])
        await revoked([lease.lease])
    }

    /// What `lease.revoked` says (`run` follows it): these leases take no new request, and
    /// each is released after its last one.
    public func revoked(_ ids: [String]) async {
        for id in ids { held[id]?.standing = .revoked }
        revocationsTaken.yield(ids)
        for id in ids { await releaseIfDone(id) }
    }

    /// Watches revocations of `apps` (all when nil) and keeps every lease renewed, until
    /// cancelled.
    public func run(apps: [String]? = nil) async throws {
        _ = try await session.call(.leaseWatch, apps.map { ["apps": .array($0.map(JSON.string))] } ?? [:])
        let (taken, take) = AsyncStream.makeStream(of: LeaseMessage.self)
        newLeases = take
        defer { take.finish() }
        for entry in held.values { take.yield(entry.lease) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            let notifications = session.notifications
            group.addTask {
                for await notification in notifications where notification.is(.leaseRevoked) {
                    await self.revoked(notification.params?["leases"]?.arrayValue?.compactMap(\.stringValue) ?? [])
                }
            }
            group.addTask {
                await withDiscardingTaskGroup { renewals in
                    for await lease in taken { renewals.addTask { await self.keepRenewed(lease) } }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Releases every lease; the requests still on them should be done.
    public func close() async {
        let ids = held.keys.sorted()
        held = [:]
        for id in ids { await release(id) }
    }

    /// Renews `lease` a third of its ttl after it was taken or last renewed, while it is held
    /// and not revoked.
    private func keepRenewed(_ lease: LeaseMessage) async {
        while true {
            do { try await Task.sleep(for: .milliseconds(lease.ttlMs / 3)) } catch { return }
            guard held[lease.lease]?.standing == .active else { return }
            do {
                _ = try await session.call(.leaseRenew, ["lease": .string(lease.lease)])
            } catch is RPCError {
                return await revoked([lease.lease])  // expired or revoked meanwhile: it takes no new request
            } catch {
                return  // the session is gone, and its leases with it
            }
        }
    }

    private func releaseIfDone(_ id: String) async {
        guard let entry = held[id], entry.standing == .revoked, entry.inFlight <= 0 else { return }
        held[id] = nil
        await release(id)
    }

    private func release(_ id: String) async {
        _ = try? await session.call(.leaseRelease, ["lease": .string(id)])  // idempotent; a lost one expires
    }
}
