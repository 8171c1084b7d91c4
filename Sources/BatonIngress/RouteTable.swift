import BatonCore
import NIOConcurrencyHelpers

/// Which app serves which host name: exact match on the lower-cased name without its
/// port, with an optional default app for the rest. Read on every request from every
/// event loop, written only when routes change.
public final class RouteTable: Sendable {
    private let state = NIOLockedValueBox<(routes: [String: AppName], defaultApp: AppName?)>(([:], nil))

    public init(defaultApp: AppName? = nil) {
        state.withLockedValue { $0.defaultApp = defaultApp }
    }

    public func replace(with routes: [String: AppName]) {
        state.withLockedValue { $0.routes = routes }
    }

    /// The app for a `Host` header value.
    public func app(forHost header: String?) -> AppName? {
        let name = header.map(Self.normalize) ?? ""
        return state.withLockedValue { $0.routes[name] ?? $0.defaultApp }
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
