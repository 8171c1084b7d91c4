import BatonHTTP1

/// A status the ingress answers with itself, with its reason phrase (RFC 9110 §15).
struct ResponseStatus: Equatable, Sendable {
    let code: UInt16
    let phrase: String

    static let ok = ResponseStatus(code: 200, phrase: "OK")
    static let badRequest = ResponseStatus(code: 400, phrase: "Bad Request")
    static let notFound = ResponseStatus(code: 404, phrase: "Not Found")
    static let methodNotAllowed = ResponseStatus(code: 405, phrase: "Method Not Allowed")
    static let contentTooLarge = ResponseStatus(code: 413, phrase: "Content Too Large")
    static let fieldsTooLarge = ResponseStatus(code: 431, phrase: "Request Header Fields Too Large")
    static let notImplemented = ResponseStatus(code: 501, phrase: "Not Implemented")
    static let badGateway = ResponseStatus(code: 502, phrase: "Bad Gateway")
    static let serviceUnavailable = ResponseStatus(code: 503, phrase: "Service Unavailable")
    static let gatewayTimeout = ResponseStatus(code: 504, phrase: "Gateway Timeout")
    static let versionNotSupported = ResponseStatus(code: 505, phrase: "HTTP Version Not Supported")

    /// The status a request that breaks `violation` gets.
    init(_ violation: HTTP1Violation) {
        switch violation.status {
        case 431: self = .fieldsTooLarge
        case 501: self = .notImplemented
        case 505: self = .versionNotSupported
        default: self = .badRequest
        }
    }

    private init(code: UInt16, phrase: String) {
        self.code = code
        self.phrase = phrase
    }
}

extension HTTP1Violation {
    /// The sentence a client gets for it, naming the setting behind a limit.
    var refusal: String {
        "The request was refused: \(reason)\(limitSetting)."
    }

    private var limitSetting: String {
        switch self {
        case .headTooLarge: " (setting ingress.maxHeaderBytes)"
        case .tooManyFields: " (setting ingress.maxHeaderFields)"
        case .trailersTooLarge: " (settings ingress.maxHeaderBytes and ingress.maxHeaderFields)"
        case .chunkExtensionTooLong: " (setting ingress.maxChunkLineBytes)"
        default: ""
        }
    }
}
