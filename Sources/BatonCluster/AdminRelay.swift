import BatonEtcd
import BatonJSON
import BatonProtocol
import BatonRPC

/// Admin calls made on a follower's socket, run by the leader (docs/cluster.md, "Followers"):
/// the follower writes the call under `admin/request/<node>/<id>` on its lease and waits for
/// the answer under `admin/answer/<node>/<id>`; the leader runs each call it finds, in the order
/// written, then writes the answer (on the asker's lease) and removes the request in one
/// transaction. A leader that dies between the two leaves the request to the next, which runs
/// it again: the calls are idempotent (PROTOCOL.md), and deploys carry a `requestId`.
public final class AdminRelay: Sendable {
    /// Runs one call on the leader, answered once its changes are stored.
    public typealias Execute = @Sendable (_ method: String, _ params: JSON) async -> Result<JSON, RPCError>

    private let client: EtcdClient
    private let keys: ClusterKeys
    private let node: String
    /// How long a follower waits for the answer: the leader's lease may have to expire, and
    /// another node take the lead, first.
    let timeout: Duration

    init(client: EtcdClient, keys: ClusterKeys, node: String, timeout: Duration) {
        self.client = client
        self.keys = keys
        self.node = node
        self.timeout = timeout
    }

    // MARK: The follower

    /// Sends `method` with `params` to the leader, under this node's `lease`; the leader's
    /// answer, or why none came.
    func forward(_ method: String, _ params: JSON, lease: EtcdLeaseID) async throws(RPCError) -> JSON {
        let request = keys.adminRequest(String(UInt64.random(in: 0...UInt64.max), radix: 36), of: node)
        let answerKey = keys.adminAnswer(toRequest: request)
        let call: JSON = ["method": .string(method), "params": params, "lease": .int(lease.value)]
        let sent: Int64
        do { sent = try await client.put(request, Self.serialized(call), lease: lease) } catch {
            throw Self.unanswered("etcd did not take it: \(error)")
        }
        let answer = await withTaskGroup(of: JSON?.self) { group in
            group.addTask { await self.answer(at: answerKey, after: sent) }
            group.addTask {
                try? await Task.sleep(for: self.timeout)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
        guard let answer else {
            _ = try? await client.delete(.key(request))  // a leader that has not taken it never will
            throw Self.unanswered("no leader answered within \(timeout); it may still run")
        }
        _ = try? await client.delete(.key(answerKey))
        if let failure = answer["error"], let error = RPCError(json: failure) { throw error }
        return answer["result"] ?? .object([:])
    }

    /// The answer under `key`, written after revision `sent`; nil once cancelled.
    private func answer(at key: String, after sent: Int64) async -> JSON? {
        struct Answered: Error { var value: [UInt8] }
        var backoff = Backoff.reconnect
        while !Task.isCancelled {
            do {
                let read = try await client.get(.key(key))
                if let kv = read.kvs.first { return try? JSON.parse(kv.value) }
                try await client.watch(.key(key), after: max(sent, read.revision)) { batch in
                    if let put = batch.events.first(where: { $0.kind == .put }) { throw Answered(value: put.kv.value) }
                }
            } catch let answered as Answered {
                return try? JSON.parse(answered.value)
            } catch {
                guard (try? await Task.sleep(for: backoff.failed())) != nil else { return nil }
            }
        }
        return nil
    }

    /// A call no leader answered: as the launcher refuses it on a follower (3007), retryable.
    static func unanswered(_ why: String) -> RPCError {
        RPCError(
            .notLeading,
            message: "This node does not lead its cluster, and forwarded the call: \(why)",
            retryAfter: .seconds(1)
        )
    }

    // MARK: The leader

    /// Runs every call waiting and every new one, in the order written, until cancelled.
    func serve(_ execute: Execute) async {
        let requests = PrefixMirror(client: client, prefix: keys.adminRequests)
        await requests.run { changes, _ in
            for case .put(let kv) in changes { await self.run(kv, execute) }
        } trouble: { _ in
        }
    }

    private func run(_ request: EtcdKeyValue, _ execute: Execute) async {
        let answer: JSON
        var lease: EtcdLeaseID?
        if let call = try? JSON.parse(request.value), let method = call["method"]?.stringValue,
            let asker = call["lease"]?.intValue
        {
            lease = EtcdLeaseID(asker)
            switch await execute(method, call["params"] ?? .object([:])) {
            case .success(let result): answer = ["result": result]
            case .failure(let error): answer = ["error": error.json]
            }
        } else {
            answer = ["error": RPCError.invalidRequest("a forwarded call this node cannot read").json]
        }
        // The asker's lease may be gone: then so is its request, and the answer is not needed.
        _ = try? await client.txn(
            when: [],
            then: [
                .put(keys.adminAnswer(toRequest: request.key), Self.serialized(answer), lease: lease),
                .delete(.key(request.key)),
            ]
        )
    }

    /// A value this node built: it serializes.
    private static func serialized(_ json: JSON) -> [UInt8] {
        (try? json.serialized()) ?? []
    }
}
