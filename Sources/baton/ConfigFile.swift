import BatonJSON
import BatonPlugins
import BatonProtocol
import BatonRPC
import Foundation

/// `baton serve --config FILE`: the same settings as the flags, in one JSON file, read with
/// the same JSON parser as the protocol. A flag given on the command line wins over the file.
///
///     {"socket": PATH, "http": "HOST:PORT", "https": "HOST:PORT", "metrics": "HOST:PORT", "state": DIR,
///      "defaultApp": APP, "defaultScheduler": NAME, "eventLoops": N,
///      "acmeEmail": ADDRESS, "acmeDirectory": URL, "acmeCaRoot": PATH,
///      "cluster": "URL,URL", "node": NAME, "clusterPrefix": PREFIX,
///      "settings": {"ingress.holdTimeoutMs": 30000, "rpc.maxLineBytes": 1048576, ...},
///      "plugins": [{"name", "command", "args"?, "env"?, "role"?: "scheduler", "cwd"?, "graceMs"?}],
///      "routes": [{"host", "app", "pathPrefix"?, "stripPrefix"?}]}   (as route.set takes them)
///
/// Relative paths in `plugins` are taken from the file's directory.
struct ConfigFile {
    var socket: String?
    var http: String?
    var https: String?
    var acmeEmail: String?
    var acmeDirectory: String?
    var acmeCaRoot: String?
    var metrics: String?
    var state: String?
    var defaultApp: String?
    var defaultScheduler: String?
    var eventLoops: Int?
    var cluster: String?
    var node: String?
    var clusterPrefix: String?
    var settings: [String: Int64] = [:]
    /// nil when the file has no `plugins` member: the built-in scheduler then runs.
    var plugins: [PluginSpec]?
    var routes: [RouteSpec] = []

    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    static func load(_ path: String) throws(Problem) -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(description: "cannot read the config file \(path)")
        }
        let json: JSON
        do {
            json = try JSON.parse(data)
        } catch {
            throw Problem(description: "the config file \(path) is not valid JSON: \(error)")
        }
        guard let root = json.objectValue else {
            throw Problem(description: "the config file \(path) must hold a JSON object")
        }
        let directory = (path as NSString).deletingLastPathComponent
        var file = ConfigFile()
        let known: Set<String> = [
            "socket", "http", "https", "acmeEmail", "acmeDirectory", "acmeCaRoot", "metrics", "state", "defaultApp",
            "defaultScheduler", "eventLoops", "settings",
            "plugins",
            "routes", "cluster", "node", "clusterPrefix",
        ]
        for key in root.keys where !known.contains(key) {
            throw Problem(
                description: "\(path): unknown member \"\(key)\"; known: \(known.sorted().joined(separator: ", "))"
            )
        }
        func string(_ key: String, in object: JSON = json) throws(Problem) -> String? {
            guard let value = object[key], value != .null else { return nil }
            guard let text = value.stringValue else {
                throw Problem(description: "\(path): \"\(key)\" must be a string")
            }
            return text
        }
        file.socket = try string("socket")
        file.http = try string("http")
        file.https = try string("https")
        file.acmeEmail = try string("acmeEmail")
        file.acmeDirectory = try string("acmeDirectory")
        file.acmeCaRoot = try string("acmeCaRoot")
        file.metrics = try string("metrics")
        file.state = try string("state")
        file.defaultApp = try string("defaultApp")
        file.defaultScheduler = try string("defaultScheduler")
        file.cluster = try string("cluster")
        file.node = try string("node")
        file.clusterPrefix = try string("clusterPrefix")
        if let loops = json["eventLoops"] {
            guard let count = loops.intValue, count > 0 else {
                throw Problem(description: "\(path): \"eventLoops\" must be a positive integer")
            }
            file.eventLoops = Int(count)
        }
        for member in json["settings"]?.objectValue?.members ?? [] {
            guard let value = member.value.intValue else {
                throw Problem(description: "\(path): setting \"\(member.key)\" must be an integer")
            }
            file.settings[member.key] = value
        }
        if let plugins = json["plugins"] {
            guard let list = plugins.arrayValue else {
                throw Problem(description: "\(path): \"plugins\" must be an array")
            }
            file.plugins = try list.enumerated().map { (index, entry) throws(Problem) in
                guard let name = try string("name", in: entry) else {
                    throw Problem(description: "\(path): plugins[\(index)] needs \"name\"")
                }
                let process: ProcessSpec
                do throws(ProcessSpec.Problem) {
                    process = try ProcessSpec(json: entry)
                } catch {
                    throw Problem(description: "\(path): plugins[\(index)]: \(error)")
                }
                return PluginSpec(
                    name: name,
                    role: try string("role", in: entry) ?? "scheduler",
                    command: ChildCommand(
                        command: Self.resolve(process.command, from: directory),
                        arguments: process.arguments,
                        environment: process.environment,
                        workingDirectory: process.workingDirectory.map { Self.resolve($0, from: directory) },
                        grace: .milliseconds(process.graceMs)
                    )
                )
            }
        }
        for (index, entry) in (json["routes"]?.arrayValue ?? []).enumerated() {
            do throws(RPCError) {
                guard let object = entry.objectValue else { throw .invalidParams("a route is an object") }
                file.routes.append(try RouteSpec(params: RPCParams(members: object)))
            } catch {
                throw Problem(description: "\(path): routes[\(index)]: \(error.message)")
            }
        }
        return file
    }

    /// A relative path (one with a slash, or ".") is taken from `directory`; a bare command
    /// name is looked up on PATH when it runs.
    static func resolve(_ path: String, from directory: String) -> String {
        guard !path.hasPrefix("/"), path.contains("/") || path == "." || path == ".." else { return path }
        return ((directory.isEmpty ? "." : directory) as NSString).appendingPathComponent(path)
    }
}
