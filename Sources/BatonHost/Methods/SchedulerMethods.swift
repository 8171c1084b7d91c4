import BatonCluster
import BatonCore
import BatonJSON
import BatonRPC

/// The `scheduler` role: desired state out, sandbox reports in. A scheduler is known by
/// the client name it gives at hello.
enum SchedulerMethods {
    /// A node of a cluster shares every report its broker took with the other nodes.
    static func all(launcher: Launcher, broker: LeaseBroker, cluster: ClusterNode?) -> [RPCMethod] {
        [
            .ordered(.schedulerSubscribe) { call in
                let (id, snapshot, updates) = await launcher.subscribeScheduler(name: call.session.client.name)
                let subscription = "scheduler-\(id)"
                Subscriptions.forward(updates, as: subscription, answering: call, notification: .schedulerDesired) {
                    update in
                    [
                        "subscription": .string(subscription), "seq": .int(Int64(update.seq)),
                        "pools": .array(update.pools.map(CoreJSON.desiredPool)),
                    ]
                }
                return [
                    "subscription": .string(subscription), "seq": 0,
                    "pools": .array(snapshot.map(CoreJSON.desiredPool)),
                ]
            },
            .ordered(.schedulerReport) { call in
                let report = try SandboxReport(params: try call.namedParams())
                let name = call.session.client.name
                try await CoreJSON.call { () async throws(CoreError) in try await broker.report(report, from: name) }
                cluster?.reported(report, from: name)
                return [:]
            },
            .ordered(.schedulerSync) { call in
                let reports = try SandboxReport.list(syncParams: try call.namedParams())
                let name = call.session.client.name
                try await CoreJSON.call { () async throws(CoreError) in try await broker.sync(reports, from: name) }
                cluster?.synced(reports, from: name)
                return [:]
            },
        ]
    }
}
