import BatonCore
import BatonEtcd
import BatonJSON
import BatonProtocol
import BatonRPC
import Logging

/// A node's campaign, its lead, and the admin calls it forwards while it follows.
extension ClusterNode {
    // MARK: Leading

    /// Campaigns with `lease` and leads while it holds the election, as long as the lease is
    /// the session's; a node whose writes are refused steps down and campaigns again.
    func campaign(with lease: EtcdLeaseID) async {
        let election = EtcdElection(client: client, prefix: configuration.keys.election)
        var backoff = Backoff.reconnect
        while term.withLock({ $0.lease == lease }) {
            do {
                let leadership = try await election.campaign(lease: lease, value: configuration.node) { leader in
                    await self.follow(leader.map { "node \($0) leads" } ?? "no node leads yet")
                }
                try await lead(leadership, lease: lease)
                try? await election.resign(leadership)
                backoff.succeeded()
            } catch {
                await trouble(error)
                await follow("it cannot campaign: \(error)")
                guard (try? await Task.sleep(for: backoff.failed())) != nil else { return }
            }
        }
    }

    func lead(_ leadership: EtcdElection.Leadership, lease: EtcdLeaseID) async throws {
        let store = try await EtcdStore.open(client: client, keys: configuration.keys, fence: [leadership.fence])
        guard
            term.withLock({ term -> Bool in
                guard term.lease == lease else { return false }
                term.store = store
                return true
            })
        else { return }
        try await launcher.lead(from: store)
        term.withLock { $0.following = nil }
        announce.yield(.leading)
        logger.notice("took the lead of the cluster", metadata: ["node": "\(configuration.node)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.relay.serve(self.runForwarded) }
            await store.run()  // until a write is refused or the lease is lost
            group.cancelAll()
        }
        let stillHeld = term.withLock { term -> Bool in
            if term.store === store { term.store = nil }
            return term.lease == lease
        }
        // A lost lease stepped down already, saying why; a refused write steps down here.
        if stillHeld { await stepDown(store.failure.map { "\($0)" } ?? "its writes to etcd ended") }
        logger.warning("gave up the lead of the cluster", metadata: ["node": "\(configuration.node)"])
    }

    func stepDown(_ why: String) async {
        term.withLock { $0.drains.forget() }
        await follow(why)
        if let state = desiredState() { await launcher.copy(state) }
    }

    func follow(_ why: String) async {
        let changed = term.withLock { term -> Bool in
            defer { term.following = why }
            return term.following != why
        }
        guard changed else { return }
        await launcher.follow(why)
        announce.yield(.following(why: why))
        logger.info("follows", metadata: ["node": "\(configuration.node)", "why": "\(why)"])
    }

    // MARK: Admin calls

    /// Has the leader run an admin call made on this node, which does not lead; its answer,
    /// or a refusal (3007) when none came.
    public func forward(_ method: String, _ params: JSON) async throws(RPCError) -> JSON {
        guard let lease = term.withLock({ $0.lease }) else {
            throw AdminRelay.unanswered(
                "it has no lease in the cluster: etcd at \(configuration.endpoints.joined(separator: ",")) cannot be reached"
            )
        }
        return try await relay.forward(method, params, lease: lease)
    }
}
