import BatonCluster
import BatonCore
import BatonJSON
import BatonProtocol
import BatonRPC

/// The JSON shapes of the core's requests and answers on the wire (see PROTOCOL.md).
enum CoreJSON {
    static func rpcError(_ error: CoreError) -> RPCError {
        RPCError(error.code, message: error.message, retryAfter: error.retryAfter)
    }

    /// Runs a core call, turning its refusal into the protocol's error.
    static func call<T>(_ body: () async throws(CoreError) -> T) async throws(RPCError) -> T {
        do { return try await body() } catch { throw rpcError(error) }
    }

    static func lease(_ lease: Lease) -> JSON {
        LeaseMessage(
            lease: lease.id.rawValue,
            url: lease.url,
            sandbox: lease.sandbox.rawValue,
            app: lease.app.rawValue,
            version: lease.version,
            service: lease.service,
            slots: lease.slots,
            ttlMs: lease.ttl.milliseconds
        ).json
    }

    static func desiredPool(_ pool: DesiredPool) -> JSON {
        PoolMessage(
            pool: pool.pool.rawValue,
            app: pool.app.rawValue,
            version: pool.version,
            service: pool.service,
            desired: pool.desired,
            spec: pool.spec.spec,
            health: pool.spec.health
        ).json
    }

    static func event(_ event: CoreEvent, wallTimeMs: Int64) -> JSON {
        EventMessage(timeMs: wallTimeMs, subject: event.subject).json
    }

    /// `cluster`: what a node of a cluster adds, the nodes and each sandbox's node.
    static func status(_ status: AppStatus, cluster: ClusterView? = nil) -> JSON {
        let deployments: [JSON] = status.deployments.map { deployment in
            var object: JSONObject = [
                "deployment": .id(deployment.id), "version": .string(deployment.version),
                "state": .string(deployment.state.rawValue),
            ]
            object["reason"] = deployment.reason.map(JSON.string)
            return .object(object)
        }
        let pools: [JSON] = status.pools.map { pool in
            var counts = JSONObject()
            for state in SandboxState.allCases { counts[state.rawValue] = .int(Int64(pool.counts[state] ?? 0)) }
            var object: JSONObject = [
                "pool": .id(pool.id), "service": .string(pool.service), "version": .string(pool.version),
                "desired": .int(Int64(pool.desired)), "sandboxes": .object(counts),
            ]
            object["scheduler"] = pool.scheduler.map(JSON.string)
            object["waiting"] = pool.waiting.map(JSON.string)
            object["stop"] = pool.stop.map(JSON.string)
            return .object(object)
        }
        let sandboxes: [JSON] = status.sandboxes.map { sandbox in
            var object: JSONObject = [
                "sandbox": .id(sandbox.id), "pool": .id(sandbox.pool), "state": .string(sandbox.state.rawValue),
                "admitted": .bool(sandbox.admitted), "suspect": .bool(sandbox.suspect),
                "leases": .int(Int64(sandbox.leases)), "slotsOut": .int(Int64(sandbox.slotsOut)),
            ]
            object["url"] = sandbox.url.map(JSON.string)
            object["reason"] = sandbox.reason.map(JSON.string)
            if let cluster { object["node"] = .string(SandboxReporter.node(of: sandbox.reporter, own: cluster.node)) }
            return .object(object)
        }
        var object: JSONObject = [
            "app": .id(status.app), "phase": .string(status.phase.rawValue),
            "routes": .array(status.routes.map(JSON.string)),
            "deployments": .array(deployments), "pools": .array(pools), "sandboxes": .array(sandboxes),
        ]
        object["activeVersion"] = status.activeVersion.map(JSON.string) ?? .null
        if let cluster {
            object["cluster"] = [
                "node": .string(cluster.node), "leader": cluster.leader.map(JSON.string) ?? .null,
                "nodes": .array(cluster.nodes.map(JSON.string)), "perNode": perNode(status, cluster),
            ]
        }
        return .object(object)
    }

    /// Each node's sandboxes of the app that have not ended, and its requests in flight for it.
    private static func perNode(_ status: AppStatus, _ cluster: ClusterView) -> JSON {
        let running = status.sandboxes.filter { !$0.state.isTerminal }
        return .array(
            cluster.nodes.map { node in
                let sandboxes = running.filter { SandboxReporter.node(of: $0.reporter, own: cluster.node) == node }
                return [
                    "node": .string(node), "sandboxes": .int(Int64(sandboxes.count)),
                    "inFlight": .int(Int64(cluster.inFlight[node]?[status.app] ?? 0)),
                ]
            }
        )
    }
}
