import BatonJSON
import Foundation

/// A deploy described in a file, as `app.deploy` takes it. Two conveniences for files kept
/// next to the app: `--version` replaces `version` and every `${version}` inside the
/// services, so one file serves every release; and a relative `cwd` in a spec is taken
/// from the file's directory, which is where a process scheduler should run it.
public struct DeployFile {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    public static func load(_ path: String, version: String?) throws(Problem) -> JSON {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(description: "cannot read \(path)")
        }
        var deploy: JSON
        do {
            deploy = try JSON.parse(data)
        } catch {
            throw Problem(description: "\(path) is not valid JSON: \(error)")
        }
        guard deploy.objectValue != nil, deploy["app"]?.stringValue != nil else {
            throw Problem(description: "\(path) must be an object with at least \"app\" and \"services\"")
        }
        if let version { deploy = deploy.setting("version", to: .string(version)) }
        guard let finalVersion = deploy["version"]?.stringValue else {
            throw Problem(description: "\(path) has no \"version\"; give one with --version")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let services = (deploy["services"]?.arrayValue ?? []).map { service in
            var service = substitute(service, version: finalVersion)
            if let spec = service["spec"], let cwd = spec["cwd"]?.stringValue, !cwd.hasPrefix("/") {
                let absolute = URL(fileURLWithPath: cwd, relativeTo: URL(fileURLWithPath: directory + "/"))
                    .standardizedFileURL.path
                service = service.setting("spec", to: spec.setting("cwd", to: .string(absolute)))
            }
            return service
        }
        return deploy.setting("services", to: .array(services))
    }

    private static func substitute(_ value: JSON, version: String) -> JSON {
        switch value {
        case .string(let text): .string(text.replacingOccurrences(of: "${version}", with: version))
        case .array(let items): .array(items.map { substitute($0, version: version) })
        case .object(let object):
            .object(JSONObject(object.members.map { ($0.key, substitute($0.value, version: version)) }))
        default: value
        }
    }
}
