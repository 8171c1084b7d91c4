import BatonJSON

/// A program to run, as a process scheduler's pool spec and the host's `plugins` entries
/// give it: `{command, args?, env?, cwd?, graceMs?}`. One codec for both.
public struct ProcessSpec: Sendable, Hashable {
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    public var command: String
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    /// How long SIGTERM has before SIGKILL.
    public var graceMs: Int64

    public static let defaultGraceMs: Int64 = 10_000

    public init(json: JSON) throws(Problem) {
        guard let command = json["command"]?.stringValue, !command.isEmpty else {
            throw Problem(description: "the spec has no \"command\" to run")
        }
        self.command = command
        arguments = try Self.strings(json["args"], "args")
        environment = [:]
        if let env = json["env"], env != .null {
            guard let members = env.objectValue?.members else {
                throw Problem(description: "\"env\" must be an object of strings")
            }
            for member in members {
                guard let value = member.value.stringValue else {
                    throw Problem(description: "\"env\" must be an object of strings")
                }
                environment[member.key] = value
            }
        }
        switch json["cwd"] {
        case nil, .null?: workingDirectory = nil
        case let cwd?:
            guard let path = cwd.stringValue else { throw Problem(description: "\"cwd\" must be a string") }
            workingDirectory = path
        }
        switch json["graceMs"] {
        case nil, .null?: graceMs = Self.defaultGraceMs
        case let grace?:
            guard let ms = grace.intValue, ms >= 0 else {
                throw Problem(description: "\"graceMs\" must be a number of milliseconds, 0 or more")
            }
            graceMs = ms
        }
    }

    private static func strings(_ value: JSON?, _ key: String) throws(Problem) -> [String] {
        guard let value, value != .null else { return [] }
        guard let list = value.arrayValue else { throw Problem(description: "\"\(key)\" must be an array of strings") }
        var strings: [String] = []
        for item in list {
            guard let string = item.stringValue else {
                throw Problem(description: "\"\(key)\" must be an array of strings")
            }
            strings.append(string)
        }
        return strings
    }
}
