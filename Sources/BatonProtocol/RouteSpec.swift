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
    /// Where the host's certificate comes from, for HTTPS; every route of a host says the same.
    public var tls: RouteTLS?
    /// Whether a request over plain HTTP gets a redirect to HTTPS instead of an answer.
    public var redirectToHttps: Bool
    /// The `Strict-Transport-Security` answers over HTTPS carry, if any.
    public var hsts: HSTSPolicy?

    public init(
        host: String,
        pathPrefix: String = "",
        app: AppName,
        stripPrefix: Bool = false,
        tls: RouteTLS? = nil,
        redirectToHttps: Bool = false,
        hsts: HSTSPolicy? = nil
    ) {
        self.host = host.lowercased()
        self.pathPrefix = Self.normalized(pathPrefix: pathPrefix)
        self.app = app
        self.stripPrefix = stripPrefix
        self.tls = tls
        self.redirectToHttps = redirectToHttps
        self.hsts = hsts
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

    /// Why the core may not take it, or nil when a host, an app's name, a prefix and the
    /// HTTPS settings are all within their limits.
    public var problem: String? {
        if !WireLimits.isHost(host) {
            return "host must be 1 to \(WireLimits.hostBytes) letters, digits, '-', '.' or '_'"
        }
        if !WireLimits.isName(app) { return "app must be 1 to \(WireLimits.nameBytes) visible ASCII characters" }
        if !WireLimits.isPathPrefix(pathPrefix) { return Self.pathPrefixRule }
        if case .files(let certificate, let key) = tls,
            !WireLimits.isFilePath(certificate) || !WireLimits.isFilePath(key)
        {
            return
                "tls.cert and tls.key must be absolute paths of up to \(WireLimits.filePathBytes) visible ASCII bytes"
        }
        if tls == nil && (redirectToHttps || hsts != nil) { return "redirectToHttps and hsts need tls" }
        if let hsts, !WireLimits.hstsMaxAge.contains(hsts.maxAge) {
            return
                "hsts.maxAge must be from \(WireLimits.hstsMaxAge.lowerBound) to \(WireLimits.hstsMaxAge.upperBound) seconds"
        }
        return nil
    }

    static let pathPrefixRule =
        "pathPrefix must be / and up to \(WireLimits.pathPrefixBytes) bytes of segments of letters, digits and "
        + "-._~!$&'()*+,;=:@, none empty, . or .."

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

/// Where a host's certificate for HTTPS comes from.
public enum RouteTLS: Sendable, Hashable {
    /// Issued and renewed by the host over ACME.
    case acme
    /// PEM files on the host's disk (the chain, leaf first, and its key), read again when they change.
    case files(certificate: String, key: String)
}

/// What `Strict-Transport-Security` says (RFC 6797).
public struct HSTSPolicy: Sendable, Hashable {
    /// Seconds a browser keeps to HTTPS.
    public var maxAge: Int64
    public var includeSubDomains: Bool

    public static let defaultMaxAge: Int64 = 31_536_000

    public init(maxAge: Int64 = HSTSPolicy.defaultMaxAge, includeSubDomains: Bool = false) {
        self.maxAge = maxAge
        self.includeSubDomains = includeSubDomains
    }

    public var headerValue: String { "max-age=\(maxAge)" + (includeSubDomains ? "; includeSubDomains" : "") }
}
