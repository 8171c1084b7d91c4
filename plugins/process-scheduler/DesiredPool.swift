import BatonJSON
import BatonPlugins
import BatonProtocol

/// A pool as `scheduler.desired` describes it, with its spec read as a local command:
/// `{command, args?, env?, cwd?, graceMs?}`.
struct DesiredPool: Sendable, Hashable {
    var id: String
    var app: String
    var version: String
    var service: String
    var desired: Int
    var health: HealthCheck?
    /// The command to run, or why the spec cannot be run.
    var command: Result<ChildCommand, ProcessSpec.Problem>

    init(_ message: PoolMessage) {
        id = message.pool
        app = message.app
        version = message.version
        service = message.service
        desired = message.desired
        health = message.health
        command = Self.command(from: message.spec)
    }

    private static func command(from spec: JSON) -> Result<ChildCommand, ProcessSpec.Problem> {
        Result { () throws(ProcessSpec.Problem) in ChildCommand(try ProcessSpec(json: spec)) }
    }
}
