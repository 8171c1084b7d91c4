/// A program's name and version, as a host and its clients tell each other in `host.hello`.
public struct RPCProgramInfo: Sendable, Hashable {
    public var name: String
    public var version: String

    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }
}
