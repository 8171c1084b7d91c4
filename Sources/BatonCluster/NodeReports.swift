import BatonCore
import BatonEtcd
import BatonProtocol
import Synchronization

/// What a node tells the cluster about its own sandboxes: the last report of each, under
/// `sandbox/<node>/<sandbox>` on the node's lease (docs/cluster.md). Reports are written in
/// the background; when several come for one sandbox before a write, only the newest goes,
/// so no node ever reads an older state after a newer one. A new lease gets every report
/// written again; while etcd cannot be reached, reports wait and the node serves on.
public final class NodeReports: Sendable {
    private struct Book {
        var latest: [SandboxID: SandboxReport] = [:]
        /// Which of this node's schedulers reported each sandbox.
        var reporter: [SandboxID: String] = [:]
        /// Sandboxes whose newest report is not in etcd yet, in the order they changed.
        var unwritten: [SandboxID] = []
        var lease: EtcdLeaseID?

        mutating func mark(_ sandbox: SandboxID) {
            if !unwritten.contains(sandbox) { unwritten.append(sandbox) }
        }
    }

    private let client: EtcdClient
    private let keys: ClusterKeys
    private let node: String
    private let book = Mutex(Book())
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    public init(client: EtcdClient, keys: ClusterKeys, node: String) {
        self.client = client
        self.keys = keys
        self.node = node
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// A report the node's broker took from one of its schedulers.
    public func record(_ report: SandboxReport, from scheduler: String? = nil) {
        book.withLock { book in
            book.latest[report.sandbox] = report
            if let scheduler { book.reporter[report.sandbox] = scheduler }
            book.mark(report.sandbox)
        }
        wake.yield()
    }

    /// A scheduler's whole list: its sandboxes left out have stopped, as the broker takes them.
    public func synced(_ reports: [SandboxReport], from scheduler: String) {
        let listed = Set(reports.map(\.sandbox))
        book.withLock { book in
            for (sandbox, reporter) in book.reporter where reporter == scheduler && !listed.contains(sandbox) {
                guard let last = book.latest[sandbox], !last.state.isFinal else { continue }
                book.latest[sandbox] = SandboxReport(
                    sandbox: sandbox,
                    pool: last.pool,
                    state: .stopped,
                    reason: "missing from sync"
                )
                book.mark(sandbox)
            }
            for report in reports {
                book.latest[report.sandbox] = report
                book.reporter[report.sandbox] = scheduler
                book.mark(report.sandbox)
            }
        }
        wake.yield()
    }

    /// The node's session has a new lease: every report is written again under it.
    public func joined(_ lease: EtcdLeaseID) {
        book.withLock { book in
            book.lease = lease
            for sandbox in book.latest.keys.sorted() { book.mark(sandbox) }
        }
        wake.yield()
    }

    /// The lease is gone: nothing is written until the next.
    public func lost() {
        book.withLock { $0.lease = nil }
    }

    /// Writes until cancelled: each round, the newest report of every changed sandbox in one
    /// transaction; a final report deletes the sandbox's key.
    public func run() async {
        var backoff = Backoff.reconnect
        for await _ in wakes {
            while let (lease, reports) = book.withLock({ book -> (EtcdLeaseID, [SandboxReport])? in
                guard let lease = book.lease, !book.unwritten.isEmpty else { return nil }
                defer { book.unwritten = [] }
                return (lease, book.unwritten.compactMap { book.latest[$0] })
            }) {
                do {
                    _ = try await client.txn(when: [], then: reports.map { operation($0, lease: lease) })
                    backoff.succeeded()
                    book.withLock { book in
                        // A sandbox that ended is forgotten once its key is gone.
                        for report in reports where report.state.isFinal && book.latest[report.sandbox] == report {
                            book.latest[report.sandbox] = nil
                            book.reporter[report.sandbox] = nil
                        }
                    }
                } catch {
                    book.withLock { book in
                        book.unwritten =
                            reports.map(\.sandbox)
                            + book.unwritten.filter { id in !reports.contains { $0.sandbox == id } }
                    }
                    guard (try? await Task.sleep(for: backoff.failed())) != nil else { return }
                }
            }
        }
    }

    private func operation(_ report: SandboxReport, lease: EtcdLeaseID) -> EtcdOperation {
        let key = keys.sandbox(report.sandbox.rawValue, of: node)
        guard !report.state.isFinal else { return .delete(.key(key)) }
        // A report is JSON this process built: it serializes.
        return .put(key, (try? report.json.serialized()) ?? [], lease: lease)
    }
}
