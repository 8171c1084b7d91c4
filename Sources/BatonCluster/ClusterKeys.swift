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
    public var sandboxes: String { prefix + "sandbox/" }
    public var drains: String { prefix + "drain/" }
    public var adminRequests: String { prefix + "admin/request/" }
    public var adminAnswers: String { prefix + "admin/answer/" }

    public func app(_ name: String) -> String { desired + "app/" + Self.escaped(name) }
    public func version(app: String, _ version: String) -> String {
        desired + "version/" + Self.escaped(app) + "/" + Self.escaped(version)
    }
    public func pool(_ id: String) -> String { desired + "pool/" + Self.escaped(id) }
    public func deployment(_ id: String) -> String { desired + "deployment/" + Self.escaped(id) }
    /// A route under its `RouteSpec.key`.
    public func route(_ key: String) -> String { desired + "route/" + Self.escaped(key) }
    public func node(_ name: String) -> String { nodes + Self.escaped(name) }
    public func drain(of node: String) -> String { drains + Self.escaped(node) }
    public func adminRequest(_ id: String, of node: String) -> String {
        adminRequests + Self.escaped(node) + "/" + Self.escaped(id)
    }

    /// Where the answer to the admin call under `request` goes.
    func adminAnswer(toRequest request: String) -> String {
        adminAnswers + request.dropFirst(adminRequests.count)
    }
    public func sandboxes(of node: String) -> String { sandboxes + Self.escaped(node) + "/" }
    public func sandbox(_ sandbox: String, of node: String) -> String { sandboxes(of: node) + Self.escaped(sandbox) }

    /// The node a key under `sandboxes` belongs to, escaped as in the key.
    func sandboxNode(_ key: String) -> Substring? {
        guard key.hasPrefix(sandboxes) else { return nil }
        return key.dropFirst(sandboxes.count).prefix { $0 != "/" }
    }

    static func escaped(_ name: String) -> String {
        name.replacing("%", with: "%25").replacing("/", with: "%2F")
    }
}
