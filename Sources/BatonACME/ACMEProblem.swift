import BatonJSON

/// Why an ACME exchange failed: a problem document the server sent (RFC 8555 §6.7, RFC 7807),
/// or what went wrong on the way to it.
public struct ACMEProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problem's type, such as `urn:ietf:params:acme:error:badNonce`; nil when the server
    /// sent no problem document.
    public var type: String?
    public var detail: String
    /// How long the server asked to wait (`Retry-After`), as a rate limit does.
    public var retryAfter: Duration?

    public init(_ detail: String, type: String? = nil, retryAfter: Duration? = nil) {
        self.detail = detail
        self.type = type
        self.retryAfter = retryAfter
    }

    /// Reads a problem document; anything else becomes a problem naming the HTTP status.
    init(status: Int, body: JSON?, retryAfter: Duration?) {
        let type = body?["type"]?.stringValue
        let detail = body?["detail"]?.stringValue ?? "the server answered HTTP \(status)"
        self.init(detail, type: type, retryAfter: retryAfter)
    }

    var isBadNonce: Bool { type == "urn:ietf:params:acme:error:badNonce" }

    public var description: String {
        guard let type else { return detail }
        return "\(detail) (\(type.replacingOccurrences(of: "urn:ietf:params:acme:error:", with: "")))"
    }
}
