/// Which app serves a host name, or the part of it under a path prefix. The longest prefix
/// that matches a request's path wins; a route without a prefix takes the rest of its host.
public struct RouteSpec: Sendable, Hashable {
    /// Lower-cased, without a port.
    public var host: String
    /// Empty for the whole host, else `/` and segments with no trailing `/`; it matches a path
    /// equal to it or continuing with `/` or `?`, compared byte for byte before any decoding.
    public var pathPrefix: String
    public var app: AppName
    /// Whether the sandbox gets the path without the prefix (and the prefix in
    /// `X-Forwarded-Prefix`), rather than the path as the client sent it.
    public var stripPrefix: Bool

    public init(host: String, pathPrefix: String = "", app: AppName, stripPrefix: Bool = false) {
        self.host = host.lowercased()
        self.pathPrefix = Self.normalized(pathPrefix: pathPrefix)
        self.app = app
        self.stripPrefix = stripPrefix
    }

    /// What names the route: its host and prefix, which cannot run together since a host
    /// has no `/` (`api.example.com/v2`).
    public var key: String { Self.key(host: host, pathPrefix: pathPrefix) }

    public static func key(host: String, pathPrefix: String) -> String {
        host.lowercased() + normalized(pathPrefix: pathPrefix)
    }

    /// `/` and a trailing `/` say the same as no prefix and no trailing `/`.
    public static func normalized(pathPrefix: String) -> String {
        var prefix = Substring(pathPrefix)
        while prefix.hasSuffix("/") { prefix = prefix.dropLast() }
        return String(prefix)
    }

    /// Whether the core may take it: a host, an app's name and a prefix within their limits.
    public var isValid: Bool {
        WireLimits.isHost(host) && WireLimits.isName(app) && WireLimits.isPathPrefix(pathPrefix)
    }

    /// Whether a request path (the origin-form target, query included) falls under the prefix.
    public func matches(path: Substring) -> Bool {
        guard !pathPrefix.isEmpty else { return true }
        guard path.utf8.starts(with: pathPrefix.utf8) else { return false }
        let next = path.utf8.dropFirst(pathPrefix.utf8.count).first
        return next == nil || next == UInt8(ascii: "/") || next == UInt8(ascii: "?")
    }

    /// The target the sandbox gets for `path`, which `matches`: without the prefix when the
    /// route strips it, and never empty.
    public func forwardedTarget(for path: String) -> String {
        guard stripPrefix, !pathPrefix.isEmpty else { return path }
        let rest = Substring(path.utf8.dropFirst(pathPrefix.utf8.count))
        return rest.utf8.first == UInt8(ascii: "/") ? String(rest) : "/" + rest
    }
}
