import BatonCore
import BatonEtcd
import BatonJSON
import BatonProtocol
import BatonRPC
import Logging

/// A node's copy of the leader's state, and the other nodes' sandbox reports.
extension ClusterNode {
    /// The leader's state changed, as of `revision`: this node applies it, then says so.
    func copied(_ changes: [PrefixMirror.Change], _ revision: Int64) async {
        await copy(changes)
        term.withLock { $0.copiedRevision = revision }
        drainWake.yield()
        copiedRevisions.yield(revision)
    }

    func copy(_ changes: [PrefixMirror.Change]) async {
        term.withLock { term in
            for change in changes {
                switch change {
                case .put(let kv): term.desired[kv.key] = kv
                case .delete(let key): term.desired[key] = nil
                }
            }
        }
        if let state = desiredState() { await launcher.copy(state) }
        let early = term.withLock { term in
            defer { term.early = [:] }
            return term.early.values.sorted { $0.report.sandbox < $1.report.sandbox }
        }
        for (report, node) in early { await apply(report, from: node) }
    }

    /// Another node's report, for this node's broker; one for a pool not copied yet waits
    /// for the copy that brings it.
    func apply(_ report: SandboxReport, from node: String) async {
        term.withLock { $0.early[report.sandbox] = nil }  // a newer report replaces one that waits
        do {
            try await broker.report(report, from: SandboxReporter.node(node))
        } catch  where error.code == .unknownPool {
            term.withLock { $0.early[report.sandbox] = (report, node) }
            // The copy that brings the pool may have taken the waiting reports just before.
            guard (try? await broker.report(report, from: SandboxReporter.node(node))) != nil else { return }
            term.withLock { term in
                if term.early[report.sandbox]?.report == report { term.early[report.sandbox] = nil }
            }
        } catch {
            logger.warning("report of another node refused", metadata: ["node": "\(node)", "error": "\(error)"])
        }
    }

    /// The leader's state as last read; nil, and logged, when this node cannot read it, so
    /// that it keeps serving what it copied last rather than forget it.
    func desiredState() -> StoredState? {
        let kvs = term.withLock { $0.desired.values.sorted { $0.key < $1.key } }
        do { return try EtcdStore.read(kvs, keys: configuration.keys).0 } catch {
            logger.error("the cluster's state cannot be read; keeping the last", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
