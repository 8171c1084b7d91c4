import BatonCore
import BatonJSON
import BatonRPC

/// The `scheduler` role: desired state out, sandbox reports in. A scheduler is known by
/// the client name it gives at hello.
enum SchedulerMethods {
    static func all(launcher: Launcher, broker: LeaseBroker) -> [RPCMethod] {
        [
            .ordered("scheduler.subscribe", roles: [.scheduler]) { call in
                let (id, snapshot, updates) = await launcher.subscribeScheduler(name: call.session.client.name)
                let subscription = "scheduler-\(id)"
                Subscriptions.forward(updates, to: call.session, method: "scheduler.desired") { update in
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
            .ordered("scheduler.report", roles: [.scheduler]) { call in
                let report = try sandboxReport(try call.namedParams())
                let name = call.session.client.name
                try await CoreJSON.call { () async throws(CoreError) in try await broker.report(report, from: name) }
                return [:]
            },
            .ordered("scheduler.sync", roles: [.scheduler]) { call in
                let params = try call.namedParams()
                guard let list = params.members["sandboxes"]?.arrayValue else {
                    throw RPCError.invalidParams("scheduler.sync takes {sandboxes: [report, ...]}")
                }
                var reports: [SandboxReport] = []
                for (index, raw) in list.enumerated() {
                    guard let object = raw.objectValue else {
                        throw RPCError.invalidParams("sandboxes[\(index)] must be an object")
                    }
                    reports.append(try sandboxReport(RPCParams(members: object)))
                }
                let name = call.session.client.name
                try await CoreJSON.call { () async throws(CoreError) in try await broker.sync(reports, from: name) }
                return [:]
            },
        ]
    }

    static func sandboxReport(_ params: RPCParams) throws(RPCError) -> SandboxReport {
        let rawState = try params.string("state")
        guard let state = ReportedState(rawValue: rawState) else {
            throw .invalidParams("state must be starting, ready, stopped or failed, not \"\(rawState)\"")
        }
        let url = try params.optionalString("url")
        if state == .ready, url?.isEmpty ?? true { throw .invalidParams("a ready report needs the sandbox's url") }
        return SandboxReport(
            sandbox: try params.id("sandbox"),
            pool: try params.id("pool"),
            state: state,
            url: url,
            reason: try params.optionalString("reason")
        )
    }
}
