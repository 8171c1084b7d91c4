import BatonJSON
import BatonRPC

/// The JSON shape of a route, as `route.set` takes it and `route.list` gives it (PROTOCOL.md):
/// one codec for the wire, the configuration file and the stores.
extension RouteSpec {
    public var json: JSON {
        var object: JSONObject = ["host": .string(host), "app": .id(app)]
        if !pathPrefix.isEmpty {
            object["pathPrefix"] = .string(pathPrefix)
            object["stripPrefix"] = .bool(stripPrefix)
        }
        return .object(object)
    }

    /// Reads a route as `route.set` takes it, refusing one the core would refuse.
    public init(params: RPCParams) throws(RPCError) {
        self.init(
            host: try params.string("host"),
            pathPrefix: try params.optionalString("pathPrefix") ?? "",
            app: try params.id("app"),
            stripPrefix: try params.optionalBool("stripPrefix") ?? false
        )
        guard WireLimits.isHost(host) else {
            throw .invalidParams("host must be 1 to \(WireLimits.hostBytes) letters, digits, '-', '.' or '_'")
        }
        guard WireLimits.isName(app) else {
            throw .invalidParams("app must be 1 to \(WireLimits.nameBytes) visible ASCII characters")
        }
        guard WireLimits.isPathPrefix(pathPrefix) else { throw .invalidParams(Self.pathPrefixRule) }
    }

    /// The key `route.remove` names: its host and optional prefix, as `route.set` took them.
    public static func key(params: RPCParams) throws(RPCError) -> String {
        let pathPrefix = try params.optionalString("pathPrefix") ?? ""
        guard WireLimits.isPathPrefix(normalized(pathPrefix: pathPrefix)) else {
            throw .invalidParams(pathPrefixRule)
        }
        return key(host: try params.string("host"), pathPrefix: pathPrefix)
    }

    static let pathPrefixRule =
        "pathPrefix must be / and up to \(WireLimits.pathPrefixBytes) bytes of segments of letters, digits and "
        + "-._~!$&'()*+,;=:@, none empty, . or .."

    /// A route as a store kept it, or nil when it is not one.
    public init?(stored json: JSON) {
        guard let object = json.objectValue, let route = try? RouteSpec(params: RPCParams(members: object)) else {
            return nil
        }
        self = route
    }
}
