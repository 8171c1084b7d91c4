/// The cluster's keys under its prefix (docs/cluster.md, "Keys"). Names may hold any printable
/// character, "/" included, so each name in a key is escaped: "%" as "%25" and "/" as "%2F".
public struct ClusterKeys: Sendable, Hashable {
    /// Ends with "/".
    public let prefix: String

    public static let defaultPrefix = "/baton/"

    public init(prefix: String = ClusterKeys.defaultPrefix) {
        self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
    }

    /// Everything the leader writes: the launcher's stored state.
    public var desired: String { prefix + "desired/" }
    public var election: String { prefix + "election/" }
    public var nodes: String { prefix + "node/" }

    public func app(_ name: String) -> String { desired + "app/" + Self.escaped(name) }
    public func version(app: String, _ version: String) -> String {
        desired + "version/" + Self.escaped(app) + "/" + Self.escaped(version)
    }
    public func pool(_ id: String) -> String { desired + "pool/" + Self.escaped(id) }
    public func deployment(_ id: String) -> String { desired + "deployment/" + Self.escaped(id) }
    public func route(_ host: String) -> String { desired + "route/" + Self.escaped(host) }
    public func node(_ name: String) -> String { nodes + Self.escaped(name) }

    static func escaped(_ name: String) -> String {
        name.replacing("%", with: "%25").replacing("/", with: "%2F")
    }
}
