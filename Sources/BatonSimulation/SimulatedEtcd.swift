import BatonCluster
import BatonCore
import BatonEtcd
import NIOConcurrencyHelpers

/// etcd as the cluster simulation needs it: one revision counter, keys attached to leases
/// that expire on the simulated clock, transactions, and a history of changes that a
/// compaction cuts. Each node reaches it through its own `Link`, which a partition cuts.
final class SimulatedEtcd: Sendable {
    fileprivate struct State {
        var revision: Int64 = 1
        var kvs: [String: EtcdKeyValue] = [:]
        var leases: [Int64: (deadline: CoreInstant, ttl: Duration)] = [:]
        var nextLease: Int64 = 0
        var history: [EtcdEvent] = []
        var compacted: Int64 = 0
        var cutOff: Set<String> = []
        /// A write of the leader's state that broke a promise: the first since the last check.
        var brokenWrite: (invariant: String, detail: String)?
    }

    private let state = NIOLockedValueBox(State())
    let clock: ManualClock
    let keys: ClusterKeys

    init(clock: ManualClock, keys: ClusterKeys) {
        self.clock = clock
        self.keys = keys
    }

    /// One node's way to etcd.
    struct Link: EtcdKV {
        let etcd: SimulatedEtcd
        let node: String

        func get(_ keys: EtcdKeys, options: EtcdRangeOptions) async throws(EtcdError) -> EtcdRange {
            try etcd.reach(from: node)
            return etcd.range(keys, options: options)
        }

        func txn(
            when compares: [EtcdCompare],
            then success: [EtcdOperation],
            else failure: [EtcdOperation]
        ) async throws(EtcdError) -> EtcdTxnResult {
            try etcd.reach(from: node)
            return try etcd.transact(when: compares, then: success, else: failure)
        }
    }

    func link(for node: String) -> Link { Link(etcd: self, node: node) }

    // MARK: Faults

    func cut(_ node: String) { state.withLockedValue { _ = $0.cutOff.insert(node) } }
    func heal(_ node: String) { state.withLockedValue { _ = $0.cutOff.remove(node) } }
    func isCut(_ node: String) -> Bool { state.withLockedValue { $0.cutOff.contains(node) } }

    func reach(from node: String) throws(EtcdError) {
        expire()
        if isCut(node) { throw .unreachable(endpoints: ["simulated"], reason: "node \(node) is cut off") }
    }

    /// Forgets the history up to now: a watcher behind it must read everything again.
    func compact() {
        state.withLockedValue { state in
            state.compacted = state.revision
            state.history = []
        }
    }

    /// The first write of the leader's state that broke a promise since the last call.
    func takeBrokenWrite() -> (invariant: String, detail: String)? {
        state.withLockedValue { state in
            defer { state.brokenWrite = nil }
            return state.brokenWrite
        }
    }

    // MARK: Reads and writes

    var revision: Int64 { state.withLockedValue { $0.revision } }

    func range(_ keys: EtcdKeys, options: EtcdRangeOptions = .init()) -> EtcdRange {
        state.withLockedValue { state in
            var kvs = state.kvs.values.filter { Self.matches($0.key, keys) }
            if let most = options.maxCreateRevision { kvs = kvs.filter { $0.createRevision <= most } }
            switch options.order {
            case .createRevisionDescending: kvs.sort { $0.createRevision > $1.createRevision }
            case .createRevisionAscending: kvs.sort { $0.createRevision < $1.createRevision }
            case nil: kvs.sort { $0.key < $1.key }
            }
            if let limit = options.limit, limit > 0 { kvs = Array(kvs.prefix(Int(limit))) }
            return EtcdRange(revision: state.revision, kvs: kvs)
        }
    }

    func transact(
        when compares: [EtcdCompare],
        then success: [EtcdOperation],
        else failure: [EtcdOperation] = []
    ) throws(EtcdError) -> EtcdTxnResult {
        let keys = self.keys
        let outcome = state.withLockedValue { state -> Result<EtcdTxnResult, EtcdError> in
            let holds = compares.allSatisfy { compare in
                switch compare {
                case .createRevision(let key, let revision): (state.kvs[key]?.createRevision ?? 0) == revision
                case .modRevision(let key, let revision): (state.kvs[key]?.modRevision ?? 0) == revision
                case .value(let key, let value): state.kvs[key]?.value == value
                }
            }
            let operations = holds ? success : failure
            for case .put(_, _, let lease?) in operations where state.leases[lease.value] == nil {
                return .failure(.server(code: 5, message: "etcdserver: requested lease not found"))
            }
            if holds, operations.contains(where: { Self.writes($0, under: keys.desired) }) {
                state.checkFence(compares, keys: keys)
            }
            var reads: [EtcdRange] = []
            let next = state.revision + 1
            var wrote = false
            for operation in operations {
                switch operation {
                case .get(let range):
                    reads.append(
                        EtcdRange(
                            revision: state.revision,
                            kvs: state.kvs.values.filter { Self.matches($0.key, range) }.sorted { $0.key < $1.key }
                        )
                    )
                case .put(let key, let value, let lease):
                    let kv = EtcdKeyValue(
                        key: key,
                        value: value,
                        createRevision: state.kvs[key]?.createRevision ?? next,
                        modRevision: next,
                        lease: lease
                    )
                    state.kvs[key] = kv
                    state.history.append(EtcdEvent(kind: .put, kv: kv))
                    wrote = true
                case .delete(let range):
                    for key in state.kvs.keys.filter({ Self.matches($0, range) }).sorted() {
                        state.delete(key, at: next)
                        wrote = true
                    }
                }
            }
            if wrote { state.revision = next }
            if holds, operations.contains(where: { Self.writes($0, under: keys.desired) }) {
                state.checkStoredState(keys: keys)
            }
            return .success(EtcdTxnResult(succeeded: holds, revision: state.revision, reads: reads))
        }
        return try outcome.get()
    }

    /// The changes after `revision`, up to `until`, in order; throws once history before them is compacted.
    func events(after revision: Int64, until: Int64) throws(EtcdError) -> [EtcdEvent] {
        let answer = state.withLockedValue { state -> Result<[EtcdEvent], EtcdError> in
            guard revision >= state.compacted else { return .failure(.compacted(revision: state.compacted)) }
            return .success(state.history.filter { $0.kv.modRevision > revision && $0.kv.modRevision <= until })
        }
        return try answer.get()
    }

    // MARK: Leases

    func grant(ttl: Duration) -> EtcdLeaseID {
        state.withLockedValue { state in
            state.nextLease += 1
            state.leases[state.nextLease] = (clock.now + ttl, ttl)
            return EtcdLeaseID(state.nextLease)
        }
    }

    /// Renews `lease`; false once it expired.
    func keepAlive(_ lease: EtcdLeaseID) -> Bool {
        expire()
        return state.withLockedValue { state in
            guard let held = state.leases[lease.value] else { return false }
            state.leases[lease.value] = (clock.now + held.ttl, held.ttl)
            return true
        }
    }

    /// Ends every lease whose time has passed, and deletes its keys, one revision per lease.
    func expire() {
        let now = clock.now
        state.withLockedValue { state in
            for (lease, held) in state.leases.sorted(by: { $0.key < $1.key }) where held.deadline <= now {
                state.leases[lease] = nil
                let attached = state.kvs.values.filter { $0.lease?.value == lease }.map(\.key).sorted()
                guard !attached.isEmpty else { continue }
                state.revision += 1
                for key in attached { state.delete(key, at: state.revision) }
            }
        }
    }

    private static func matches(_ key: String, _ keys: EtcdKeys) -> Bool {
        switch keys {
        case .key(let one): key == one
        case .prefix(let prefix): key.hasPrefix(prefix)
        }
    }

    private static func writes(_ operation: EtcdOperation, under prefix: String) -> Bool {
        switch operation {
        case .put(let key, _, _), .delete(.key(let key)): key.hasPrefix(prefix)
        case .delete(.prefix(let key)): key.hasPrefix(prefix) || prefix.hasPrefix(key)
        case .get: false
        }
    }
}

extension SimulatedEtcd.State {
    mutating func delete(_ key: String, at revision: Int64) {
        guard let old = kvs.removeValue(forKey: key) else { return }
        history.append(
            EtcdEvent(
                kind: .delete,
                kv: EtcdKeyValue(key: key, value: [], createRevision: old.createRevision, modRevision: revision)
            )
        )
    }

    /// A write of the leader's state must be fenced by the election key that leads now: the
    /// one with the lowest create revision.
    mutating func checkFence(_ compares: [EtcdCompare], keys: ClusterKeys) {
        let leader = kvs.values.filter { $0.key.hasPrefix(keys.election) }.min { $0.createRevision < $1.createRevision }
        let fenced = compares.contains { compare in
            guard case .createRevision(let key, let revision) = compare else { return false }
            return key == leader?.key && revision == leader?.createRevision
        }
        if !fenced, brokenWrite == nil {
            brokenWrite = (
                "never two acting leaders",
                "a write of the leader's state passed with \(compares), while \(leader?.key ?? "no key") leads"
            )
        }
    }

    /// Every revision of the leader's state is one a follower may copy and a new leader may
    /// resume from: no waiting deploy in it waits for a pool stored at 0.
    mutating func checkStoredState(keys: ClusterKeys) {
        guard brokenWrite == nil else { return }
        let desired = kvs.values.filter { $0.key.hasPrefix(keys.desired) }.sorted { $0.key < $1.key }
        guard let stored = try? EtcdStore.read(desired, keys: keys).0 else {
            brokenWrite = ("the leader's state in etcd reads back", "revision \(revision) does not")
            return
        }
        for deployment in stored.deployments where deployment.state == .waiting {
            for pool in deployment.waitPools.values.sorted()
            where (stored.pools.first { $0.id == pool }?.desired ?? 0) == 0 {
                brokenWrite = (
                    "a stored deploy never waits for a pool stored at 0",
                    "at revision \(revision), \(deployment.id) waits for \(pool), stored at 0"
                )
                return
            }
        }
    }
}
