import BatonJSON
import BatonRPC

/// The states a scheduler may report.
public enum ReportedState: String, Sendable, Hashable, CaseIterable {
    case starting, ready, stopped, failed

    /// The sandbox is gone: nothing more will be reported of it.
    public var isFinal: Bool { self == .stopped || self == .failed }
}

/// One scheduler report about one sandbox, as `scheduler.report` sends it and as each entry of
/// `scheduler.sync` lists it; reports are idempotent.
public struct SandboxReport: Sendable, Hashable {
    public var sandbox: SandboxID
    public var pool: PoolID
    public var state: ReportedState
    public var url: String?
    public var reason: String?

    public init(sandbox: SandboxID, pool: PoolID, state: ReportedState, url: String? = nil, reason: String? = nil) {
        self.sandbox = sandbox
        self.pool = pool
        self.state = state
        self.url = url
        self.reason = reason
    }

    public init(params: RPCParams) throws(RPCError) {
        let rawState = try params.string("state")
        guard let state = ReportedState(rawValue: rawState) else {
            throw .invalidParams("state must be starting, ready, stopped or failed, not \"\(rawState)\"")
        }
        let url = try params.optionalString("url")
        if state == .ready, url?.isEmpty ?? true { throw .invalidParams("a ready report needs the sandbox's url") }
        let sandbox: SandboxID = try params.id("sandbox")
        let reason = try params.optionalString("reason")
        guard WireLimits.isName(sandbox), url.map(WireLimits.isSandboxURL) ?? true,
            (reason?.utf8.count ?? 0) <= WireLimits.reasonBytes
        else {
            throw .invalidParams(
                "a sandbox id is a name of 1 to \(WireLimits.nameBytes) visible ASCII characters, a url is http://host:port, and a reason at most \(WireLimits.reasonBytes) bytes"
            )
        }
        self.init(sandbox: sandbox, pool: try params.id("pool"), state: state, url: url, reason: reason)
    }

    /// The reports of a `scheduler.sync`; one bad entry refuses them all.
    public static func list(syncParams params: RPCParams) throws(RPCError) -> [SandboxReport] {
        guard let list = params.members["sandboxes"]?.arrayValue else {
            throw RPCError.invalidParams("scheduler.sync takes {sandboxes: [report, ...]}")
        }
        var reports: [SandboxReport] = []
        var listed = Set<SandboxID>()
        for (index, raw) in list.enumerated() {
            guard let object = raw.objectValue else {
                throw RPCError.invalidParams("sandboxes[\(index)] must be an object")
            }
            let report = try SandboxReport(params: RPCParams(members: object))
            guard listed.insert(report.sandbox).inserted else {
                throw RPCError.invalidParams("sandboxes[\(index)] lists \(report.sandbox) a second time")
            }
            reports.append(report)
        }
        return reports
    }

    public var json: JSON {
        var object: JSONObject = ["sandbox": .id(sandbox), "pool": .id(pool), "state": .string(state.rawValue)]
        object["url"] = url.map(JSON.string)
        object["reason"] = reason.map(JSON.string)
        return .object(object)
    }

    /// The params of a `scheduler.sync` listing `reports`.
    public static func syncParams(_ reports: [SandboxReport]) -> JSON {
        ["sandboxes": .array(reports.map(\.json))]
    }
}
