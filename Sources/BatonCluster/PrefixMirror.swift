import BatonEtcd
import BatonProtocol
import Synchronization

/// Keeps a copy of every key under a prefix, as a follower keeps the leader's desired state
/// (docs/cluster.md, "Followers"): it reads everything once, then follows a watch from the
/// revision of that read. When the watch is lost or etcd compacted the history it needs, it
/// reads everything again and hands over only the difference, so no change is missed and
/// none is applied twice or out of order. While etcd cannot be reached it keeps what it has.
/// One task runs it at a time; a run that ends may be followed by another, which goes on
/// from the copy.
public final class PrefixMirror: Sendable {
    public enum Change: Sendable, Hashable {
        case put(EtcdKeyValue)
        case delete(key: String)
    }

    public let client: EtcdClient
    public let prefix: String
    private struct Copy {
        /// Each key's last change seen, by revision.
        var known: [String: Int64] = [:]
        /// The revision everything known is up to; 0 before the first read.
        var revision: Int64 = 0
    }

    private let copy = Mutex(Copy())

    /// The revision the copy is up to; 0 before the first read.
    public var revision: Int64 { copy.withLock { $0.revision } }

    public init(client: EtcdClient, prefix: String) {
        self.client = client
        self.prefix = prefix
    }

    /// Follows the prefix until cancelled; `apply` gets each change in order, with the
    /// revision it brings the copy to. `trouble` hears why etcd could not be followed, each
    /// time, before the next try.
    public func run(
        apply: ([Change], Int64) async -> Void,
        trouble: (EtcdError) async -> Void
    ) async {
        var backoff = Backoff.reconnect
        var needsRead = revision == 0
        while !Task.isCancelled {
            do {
                if needsRead {
                    try await resynchronise(apply)
                    needsRead = false
                }
                backoff.succeeded()
                try await client.watch(.prefix(prefix), after: revision) { batch in
                    await follow(batch, apply)
                }
            } catch let error as EtcdError {
                if case .compacted = error { needsRead = true }
                await trouble(error)
                guard (try? await Task.sleep(for: backoff.failed())) != nil else { return }
            } catch {
                return  // cancelled
            }
        }
    }

    private func follow(_ batch: EtcdWatchBatch, _ apply: ([Change], Int64) async -> Void) async {
        let (changes, revision) = copy.withLock { copy -> ([Change], Int64) in
            var changes: [Change] = []
            for event in batch.events where event.kv.modRevision > (copy.known[event.kv.key] ?? 0) {
                switch event.kind {
                case .put:
                    copy.known[event.kv.key] = event.kv.modRevision
                    changes.append(.put(event.kv))
                case .delete:
                    copy.known[event.kv.key] = nil
                    changes.append(.delete(key: event.kv.key))
                }
            }
            copy.revision = max(copy.revision, batch.revision)
            return (changes, copy.revision)
        }
        if !changes.isEmpty { await apply(changes, revision) }
    }

    /// Reads everything and hands over what differs from the copy.
    private func resynchronise(_ apply: ([Change], Int64) async -> Void) async throws(EtcdError) {
        let read = try await client.get(.prefix(prefix))
        let changes = copy.withLock { copy -> [Change] in
            var changes: [Change] = []
            var present = Set<String>()
            for kv in read.kvs {
                present.insert(kv.key)
                if copy.known[kv.key] != kv.modRevision {
                    copy.known[kv.key] = kv.modRevision
                    changes.append(.put(kv))
                }
            }
            for key in copy.known.keys.sorted() where !present.contains(key) {
                copy.known[key] = nil
                changes.append(.delete(key: key))
            }
            copy.revision = read.revision
            return changes
        }
        await apply(changes, read.revision)
    }
}
