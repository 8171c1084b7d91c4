import BatonEtcd
import BatonTestSupport
import Synchronization
import Testing

/// Set once, read from any task.
private final class Flag: Sendable {
    private let raised = Atomic(false)
    func raise() { raised.store(true, ordering: .sequentiallyConsistent) }
    var isRaised: Bool { raised.load(ordering: .sequentiallyConsistent) }
}

extension EtcdSuites {
    /// The election and a node's session against a real etcd.
    @Suite("etcd election and session", .timeLimit(.minutes(2)))
    struct EtcdElectionTests {
        @Test func theNextCandidateLeadsOnceTheLeadersLeaseIsGoneAndTheOldFenceHolds() async throws {
            try await withEtcd { etcd, _ in
                let election = EtcdElection(client: etcd, prefix: "/e/election")
                let leases = try await Self.leases(3, from: etcd)
                let first = try await election.campaign(lease: leases[0], value: "a")
                #expect(try await election.leader()?.name == "a")
                let aGone = Flag()
                try await withThrowingTaskGroup(of: (String, EtcdElection.Leadership).self) { group in
                    // b waits on a; c, whose key comes after b's, waits on b.
                    for (lease, name) in [(leases[1], "b"), (leases[2], "c")] {
                        group.addTask {
                            let leadership = try await election.campaign(lease: lease, value: name)
                            #expect(aGone.isRaised, "\(name) led while a still held its key")
                            return (name, leadership)
                        }
                        try await Self.waitForCandidate(name, election: election, after: first.createRevision)
                    }
                    aGone.raise()
                    try await etcd.revoke(leases[0])
                    let (name, second) = try #require(try await group.next())
                    #expect(name == "b", "b campaigned first, so it comes next")
                    #expect(try await election.leader()?.name == "b")
                    let stale = try await etcd.txn(when: [first.fence], then: [.put("/e/desired", [1])])
                    #expect(!stale.succeeded, "the deposed leader's write is refused")
                    let fresh = try await etcd.txn(when: [second.fence], then: [.put("/e/desired", [2])])
                    #expect(fresh.succeeded)
                    try await election.resign(second)
                    #expect(try await group.next()?.0 == "c")
                }
            }
        }

        /// A candidate names the leader while it waits, and names the next one when the lead
        /// moves without the key just before its own going: c waits behind b, and when a's
        /// lease goes, c says that b leads.
        @Test func aWaitingCandidateNamesEachLeaderInTurn() async throws {
            try await withEtcd { etcd, _ in
                let election = EtcdElection(client: etcd, prefix: "/e/named")
                let leases = try await Self.leases(3, from: etcd)
                let first = try await election.campaign(lease: leases[0], value: "a")
                let (named, name) = AsyncStream<String?>.makeStream()
                try await withThrowingTaskGroup(of: String.self) { group in
                    group.addTask {
                        _ = try await election.campaign(lease: leases[1], value: "b")
                        return "b"
                    }
                    try await Self.waitForCandidate("b", election: election, after: first.createRevision)
                    group.addTask {
                        _ = try await election.campaign(lease: leases[2], value: "c") { name.yield($0) }
                        return "c"
                    }
                    var names = named.makeAsyncIterator()
                    #expect(await names.next() == "a")
                    try await etcd.revoke(leases[0])
                    #expect(try await group.next() == "b")
                    #expect(await names.next() == "b", "c, still waiting, names the new leader")
                    group.cancelAll()
                }
            }
        }

        private static func leases(_ count: Int, from etcd: EtcdClient) async throws -> [EtcdLeaseID] {
            var leases: [EtcdLeaseID] = []
            for _ in 0..<count { leases.append(try await etcd.grant(ttl: .seconds(60))) }
            return leases
        }

        private struct Seen: Error {}

        /// Returns once a candidate named `name` has its key, seen through a watch.
        private static func waitForCandidate(_ name: String, election: EtcdElection, after revision: Int64) async throws
        {
            do {
                try await election.client.watch(.prefix(election.prefix), after: revision) { batch in
                    if batch.events.contains(where: { $0.kind == .put && $0.kv.value == Array(name.utf8) }) {
                        throw Seen()
                    }
                }
            } catch is Seen {}
        }

        @Test func aSessionWhoseLeaseIsRevokedNoticesAtItsNextRenewalAndJoinsAgain() async throws {
            try await withEtcd { etcd, _ in
                let session = EtcdSession(client: etcd, ttl: .seconds(3))
                let (events, record) = AsyncStream<(String, EtcdLeaseID)>.makeStream()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await session.run {
                            record.yield(("joined", $0))
                        } lost: {
                            record.yield(("lost", $0))
                        }
                    }
                    var seen = events.makeAsyncIterator()
                    let first = try #require(await seen.next())
                    #expect(first.0 == "joined")
                    try await etcd.revoke(first.1)
                    let lost = try #require(await seen.next())
                    #expect(lost == ("lost", first.1))
                    let again = try #require(await seen.next())
                    #expect(again.0 == "joined" && again.1 != first.1)
                    #expect(try await etcd.keepAlive(again.1) > 0)
                    group.cancelAll()
                    try await group.waitForAll()
                    #expect(try await etcd.keepAlive(again.1) == 0, "a session that ends revokes its lease")
                }
            }
        }
    }
}
