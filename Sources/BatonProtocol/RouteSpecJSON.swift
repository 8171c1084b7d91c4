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
        switch tls {
        case nil: break
        case .acme: object["tls"] = "acme"
        case .files(let certificate, let key): object["tls"] = ["cert": .string(certificate), "key": .string(key)]
        }
        if redirectToHttps { object["redirectToHttps"] = true }
        if let hsts {
            object["hsts"] = ["maxAge": .int(hsts.maxAge), "includeSubDomains": .bool(hsts.includeSubDomains)]
        }
        return .object(object)
    }

    /// Reads a route as `route.set` takes it, refusing one the core would refuse.
    public init(params: RPCParams) throws(RPCError) {
        self.init(
            host: try params.string("host"),
            pathPrefix: try params.optionalString("pathPrefix") ?? "",
            app: try params.id("app"),
            stripPrefix: try params.optionalBool("stripPrefix") ?? false,
            tls: try Self.tls(params),
            redirectToHttps: try params.optionalBool("redirectToHttps") ?? false,
            hsts: try Self.hsts(params)
        )
        if let problem { throw .invalidParams(problem) }
    }

    private static func tls(_ params: RPCParams) throws(RPCError) -> RouteTLS? {
        switch params.members["tls"] {
        case nil, .null?: return nil
        case .string("acme")?: return .acme
        case .object?:
            let files = try params.object("tls")
            return .files(certificate: try files.string("cert"), key: try files.string("key"))
        default: throw .invalidParams("tls must be \"acme\" or {\"cert\": PATH, \"key\": PATH}")
        }
    }

    private static func hsts(_ params: RPCParams) throws(RPCError) -> HSTSPolicy? {
        guard params.members["hsts"] != nil, params.members["hsts"] != .null else { return nil }
        let hsts = try params.object("hsts")
        return HSTSPolicy(
            maxAge: try hsts.optionalInt("maxAge", in: WireLimits.hstsMaxAge) ?? HSTSPolicy.defaultMaxAge,
            includeSubDomains: try hsts.optionalBool("includeSubDomains") ?? false
        )
    }

    /// The key `route.remove` names: its host and optional prefix, as `route.set` took them.
    public static func key(params: RPCParams) throws(RPCError) -> String {
        let pathPrefix = try params.optionalString("pathPrefix") ?? ""
        guard WireLimits.isPathPrefix(normalized(pathPrefix: pathPrefix)) else {
            throw .invalidParams(pathPrefixRule)
        }
        return key(host: try params.string("host"), pathPrefix: pathPrefix)
    }

    /// A route as a store kept it, or nil when it is not one.
    public init?(stored json: JSON) {
        guard let object = json.objectValue, let route = try? RouteSpec(params: RPCParams(members: object)) else {
            return nil
        }
        self = route
    }
}
