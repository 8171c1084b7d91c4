import BatonCore
import BatonEtcd
import BatonJSON
import BatonProtocol
import BatonRPC

/// Follows the other nodes' sandbox reports (`sandbox/<node>/...`) and hands each to this
/// node's broker, which makes its own readiness check before it admits a sandbox. A report
/// whose key goes (its sandbox ended, or its node's lease expired) comes as `stopped`.
public struct RemoteReports: Sendable {
    private let mirror: PrefixMirror
    private let keys: ClusterKeys
    private let node: String

    public init(client: EtcdClient, keys: ClusterKeys, node: String) {
        self.mirror = PrefixMirror(client: client, prefix: keys.sandboxes)
        self.keys = keys
        self.node = node
    }

    /// Runs until cancelled; `apply` gets each report with the name of the node that sent it
    /// (escaped as in its key), in order. `trouble` hears why etcd could not be followed.
    public func run(
        apply: (SandboxReport, String) async -> Void,
        trouble: (EtcdError) async -> Void
    ) async {
        let own = ClusterKeys.escaped(node)
        var known: [String: SandboxReport] = [:]
        await mirror.run { changes, _ in
            for change in changes {
                switch change {
                case .put(let kv):
                    guard let sender = keys.sandboxNode(kv.key), sender != own else { continue }
                    guard let report = Self.report(kv.value) else { continue }  // not ours to read: skipped
                    known[kv.key] = report
                    await apply(report, String(sender))
                case .delete(let key):
                    guard let sender = keys.sandboxNode(key), sender != own,
                        let last = known.removeValue(forKey: key)
                    else { continue }
                    let gone = SandboxReport(
                        sandbox: last.sandbox,
                        pool: last.pool,
                        state: .stopped,
                        reason: "its node \(sender) no longer reports it"
                    )
                    await apply(gone, String(sender))
                }
            }
        } trouble: { error in
            await trouble(error)
        }
    }

    private static func report(_ bytes: [UInt8]) -> SandboxReport? {
        guard let object = (try? JSON.parse(bytes))?.objectValue else { return nil }
        return try? SandboxReport(params: RPCParams(members: object))
    }
}
