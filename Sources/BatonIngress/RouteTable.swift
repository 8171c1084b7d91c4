import BatonCore
import NIOConcurrencyHelpers

/// Which app serves a request: the route of its host (the lower-cased name without its
/// port) with the longest path prefix its path falls under, else the default app if there is
/// one. Read on every request from every event loop, written only when routes change.
public final class RouteTable: Sendable {
    /// Each host's routes, longest prefix first.
    private let byHost = NIOLockedValueBox<[String: [RouteSpec]]>([:])
    private let defaultApp: AppName?

    public init(defaultApp: AppName? = nil) {
        self.defaultApp = defaultApp
    }

    public func replace(with routes: [String: RouteSpec]) {
        let byHost = Dictionary(grouping: routes.values, by: \.host).mapValues { routes in
            routes.sorted { $0.pathPrefix.utf8.count > $1.pathPrefix.utf8.count }
        }
        self.byHost.withLockedValue { $0 = byHost }
    }

    /// The route for a `Host` header value and an origin-form target.
    public func route(forHost header: String?, target: String) -> RouteSpec? {
        let name = header.map(Self.normalize) ?? ""
        let path = Substring(target)
        let routed = byHost.withLockedValue { $0[name] }?.first { $0.matches(path: path) }
        return routed ?? defaultApp.map { RouteSpec(host: name, app: $0) }
    }

    static func normalize(_ host: String) -> String {
        // Most Host headers are already a bare lower-case name: nothing to rebuild.
        if host.utf8.allSatisfy({
            $0 < 0x80 && $0 != UInt8(ascii: ":") && !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
        }) {
            return host
        }
        var name = Substring(host.lowercased())
        if name.hasPrefix("[") {  // [v6]:port
            if let close = name.firstIndex(of: "]") { name = name[...close] }
        } else if let colon = name.lastIndex(of: ":") {
            name = name[..<colon]
        }
        return String(name)
    }
}
