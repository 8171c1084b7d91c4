import BatonCore
import BatonJSON
import BatonPlugins

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
    var command: Result<ChildCommand, SpecProblem>

    struct SpecProblem: Error, Hashable, CustomStringConvertible {
        var description: String
    }

    init?(_ json: JSON) {
        guard let id = json["pool"]?.stringValue else { return nil }
        self.id = id
        app = json["app"]?.stringValue ?? "?"
        version = json["version"]?.stringValue ?? "?"
        service = json["service"]?.stringValue ?? "?"
        desired = Int(json["desired"]?.intValue ?? 0)
        health = json["health"]?["path"]?.stringValue.map(HealthCheck.init(path:))
        command = Self.command(from: json["spec"] ?? .null)
    }

    private static func command(from spec: JSON) -> Result<ChildCommand, SpecProblem> {
        guard let command = spec["command"]?.stringValue, !command.isEmpty else {
            return .failure(SpecProblem(description: "the pool's spec has no \"command\" to run"))
        }
        let arguments = spec["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        var environment: [String: String] = [:]
        for member in spec["env"]?.objectValue?.members ?? [] {
            if let value = member.value.stringValue { environment[member.key] = value }
        }
        let graceMs = spec["graceMs"]?.intValue ?? 10_000
        return .success(
            ChildCommand(
                command: command, arguments: arguments, environment: environment, workingDirectory: spec["cwd"]?.stringValue,
                grace: .milliseconds(max(0, graceMs))))
    }
}
