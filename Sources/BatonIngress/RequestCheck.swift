import BatonCore
import BatonHTTP1

/// A request head that passed the checks, with what the proxy forwards.
struct CheckedRequest: Equatable {
    /// `host[:port]` the request is for: the absolute-form target's authority, else Host.
    var authority: String?
    /// The target in origin form (or `*`), as the sandbox gets it.
    var target: String
    /// How its body is delimited, decided by the proxy alone: the sandbox always gets the
    /// request framed this way, whatever framing fields the client sent or hid.
    var framing: MessageFraming
    /// The protocol the client asks to switch to, when it asks (`Connection: upgrade`).
    var upgrade: String?
    /// The path prefix its route took off `target`, for `X-Forwarded-Prefix`.
    var strippedPrefix: String? = nil
    /// How the client reached the proxy, for `X-Forwarded-Proto`.
    var scheme = RequestScheme.http
    /// What the answer's `Strict-Transport-Security` says, set by the route over HTTPS only
    /// (RFC 6797 §7.2).
    var strictTransportSecurity: String? = nil

    /// The request as the route's app gets it: without the route's prefix if it strips it.
    mutating func apply(_ route: RouteSpec) {
        if scheme == .https { strictTransportSecurity = route.hsts?.headerValue }
        guard route.stripPrefix, !route.pathPrefix.isEmpty else { return }
        target = route.forwardedTarget(for: target)
        strippedPrefix = route.pathPrefix
    }

    /// Where the same request goes over HTTPS on `port`.
    func httpsLocation(host: String, port: Int) -> String {
        "https://" + host + (port == 443 ? "" : ":\(port)") + (target == "*" ? "/" : target)
    }
}

/// How a client reached the proxy: in plain text, or behind TLS.
enum RequestScheme: String {
    case http
    case https
}

/// Why a request head is refused, with the status the client gets.
struct RequestRefusal: Error, Equatable {
    var status: ResponseStatus
    var reason: String
}

/// What a request head must also be, past the syntax and framing rules the parser holds it
/// to (BatonHTTP1), before it is routed (RFC 9112 §3, RFC 9110 §7.2, §9.3). README's parsing
/// rules table lists each rule.
public enum RequestCheck {
    static func check(_ head: RequestHead, framing: MessageFraming) -> Result<CheckedRequest, RequestRefusal> {
        do throws(RequestRefusal) {
            if head.isMethod("CONNECT") {
                throw refusal(.methodNotAllowed, "CONNECT is not served; Baton is a reverse proxy")
            }
            // RFC 9110 §9.3.8.
            if head.isMethod("TRACE"), framing != .none {
                throw refusal(.badRequest, "a TRACE request may not carry content")
            }
            let (target, targetAuthority) = try target(of: head)
            let hosts = head.fields.values(.host)
            guard hosts.count <= 1 else { throw refusal(.badRequest, "it has \(hosts.count) Host headers") }
            if head.minorVersion == 1, hosts.isEmpty {
                throw refusal(.badRequest, "an HTTP/1.1 request needs a Host header")
            }
            if let host = hosts.first, !isValidAuthority(host) {
                throw refusal(.badRequest, "its Host header is not a valid host")
            }
            // RFC 9112 §3.2.2: an absolute-form target wins over Host.
            let authority = targetAuthority ?? hosts.first
            return .success(
                CheckedRequest(authority: authority, target: target, framing: framing, upgrade: head.upgrade)
            )
        } catch {
            return .failure(error)
        }
    }

    static func refusal(_ status: ResponseStatus, _ why: String) -> RequestRefusal {
        RequestRefusal(status: status, reason: "The request was refused: \(why).")
    }

    /// The origin-form target and, for an absolute-form one, its authority.
    private static func target(of head: RequestHead) throws(RequestRefusal) -> (String, String?) {
        let uri = head.target
        if uri.hasPrefix("/") { return (uri, nil) }
        if uri == "*", head.isMethod("OPTIONS") { return (uri, nil) }
        let lowered = uri.lowercased()
        guard let scheme = ["http://", "https://"].first(where: { lowered.hasPrefix($0) }) else {
            throw refusal(.badRequest, "its target is neither a path nor an absolute http URI")
        }
        let rest = uri.dropFirst(scheme.count)
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = String(rest[..<end])
        guard isValidAuthority(authority) else {
            throw refusal(.badRequest, "its target's authority is not a valid host")
        }
        var path = String(rest[end...])
        if !path.hasPrefix("/") { path = "/" + path }
        return (path, authority)
    }

    /// `host[:port]` with a reg-name or IP literal (RFC 3986 §3.2.2); no user info.
    static func isValidAuthority(_ value: String) -> Bool {
        var host = Substring(value)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let literal = host[host.index(after: host.startIndex)..<close]
            guard !literal.isEmpty,
                literal.utf8.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { return false }
            host = host[host.index(after: close)...]
            return host.isEmpty || isPort(host.dropFirst()) && host.first == ":"
        }
        if let colon = host.lastIndex(of: ":") {
            guard isPort(host[host.index(after: colon)...]) else { return false }
            host = host[..<colon]
        }
        return !host.isEmpty && host.utf8.allSatisfy(isRegNameByte)
    }

    private static func isPort(_ digits: Substring) -> Bool {
        digits.utf8.count <= 5 && digits.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20)
    }

    /// unreserved, sub-delims and `%` (RFC 3986 §3.2.2).
    private static func isRegNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default: return "-._~!$&'()*+,;=%".utf8.contains(byte)
        }
    }

    // MARK: Heads the host builds itself (`ingress.request`), which no parser has seen

    /// A method or header name: an RFC 9110 §5.6.2 token.
    public static func isToken(_ value: String) -> Bool {
        !value.isEmpty
            && value.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
    }

    /// A header value: visible bytes, spaces and tabs; never CR, LF or NUL (RFC 9110 §5.5).
    public static func isFieldValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// An origin-form target: `/` then visible ASCII, no spaces (RFC 9112 §3.2.1).
    public static func isOriginTarget(_ value: String) -> Bool {
        value.hasPrefix("/") && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
