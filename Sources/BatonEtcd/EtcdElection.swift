/// etcd's election recipe (`clientv3/concurrency`): a candidate creates a key under its
/// session's lease in `prefix`; the key with the lowest create revision leads. A candidate
/// leads once no key is before its own. Unlike the recipe, which wakes a candidate only when
/// the key just before its own goes, any deletion in `prefix` wakes it to look again: the
/// leader can change without that key going (a key left by a lost lease leads until the
/// lease expires, then the next candidate leads), and a waiting candidate names the leader.
public struct EtcdElection: Sendable {
    public let client: EtcdClient
    /// Ends with "/".
    public let prefix: String

    public init(client: EtcdClient, prefix: String) {
        self.client = client
        self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
    }

    /// This node's place in the election, once it leads.
    public struct Leadership: Sendable, Hashable {
        public var key: String
        public var createRevision: Int64

        package init(key: String, createRevision: Int64) {
            self.key = key
            self.createRevision = createRevision
        }

        /// The comparison every write of the leader carries: once its lease is gone, its key
        /// is gone and the write is refused, whatever the deposed leader believes.
        public var fence: EtcdCompare { .createRevision(key, equals: createRevision) }
    }

    /// Returns once `lease`'s candidate leads; `value` names the node. Throws if the lease
    /// is gone, or etcd cannot be reached; cancelling stops the wait.
    /// `waiting` hears the leader's value each time the candidate starts to wait.
    public func campaign(
        lease: EtcdLeaseID,
        value: String,
        waiting: (String?) async -> Void = { _ in }
    ) async throws -> Leadership {
        let key = prefix + lease.description
        let made = try await client.txn(
            when: [.createRevision(key, equals: 0)],
            then: [.put(key, Array(value.utf8), lease: lease)],
            else: [.get(.key(key))]
        )
        let revision = made.succeeded ? made.revision : made.reads.first?.kvs.first?.createRevision ?? 0
        guard revision > 0 else { throw EtcdError.malformed("the campaign key \(key) has no revision") }
        while true {
            let before = try await client.get(
                .prefix(prefix),
                options: .init(limit: 1, maxCreateRevision: revision - 1, order: .createRevisionDescending)
            )
            guard !before.kvs.isEmpty else {
                // Nobody before this key: it leads, if its lease still holds it.
                guard try await client.get(.key(key)).kvs.first?.createRevision == revision else {
                    throw Self.candidacyGone(key)
                }
                return Leadership(key: key, createRevision: revision)
            }
            await waiting(try await leader()?.name)
            try await waitForDeletion(besides: key, after: before.revision)
        }
    }

    /// The leader's node name and key, if any node leads.
    public func leader() async throws(EtcdError) -> (name: String, key: String)? {
        let first = try await client.get(.prefix(prefix), options: .init(limit: 1, order: .createRevisionAscending))
        return first.kvs.first.map { (String(decoding: $0.value, as: UTF8.self), $0.key) }
    }

    /// Gives up leading (or waiting to lead) without giving up the lease.
    public func resign(_ leadership: Leadership) async throws(EtcdError) {
        _ = try await client.txn(when: [leadership.fence], then: [.delete(.key(leadership.key))])
    }

    private static func candidacyGone(_ key: String) -> EtcdError {
        .server(code: EtcdError.notFound, message: "the campaign key \(key) is gone with its lease")
    }

    private struct Deleted: Error {
        var key: String
    }

    /// Returns once a key in the election other than `own` is deleted; throws once `own` is
    /// (its lease is gone, and with it this candidacy).
    private func waitForDeletion(besides own: String, after revision: Int64) async throws {
        do {
            try await client.watch(.prefix(prefix), after: revision) { batch in
                if let deleted = batch.events.first(where: { $0.kind == .delete }) {
                    throw Deleted(key: deleted.kv.key)
                }
            }
        } catch let deleted as Deleted where deleted.key != own {
            return
        } catch is Deleted {
            throw Self.candidacyGone(own)
        }
    }
}
