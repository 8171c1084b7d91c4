import BatonJSON

/// A JSON-RPC error object: a stable code for programs, a sentence for people, and
/// optional structured data. Every code Baton sends is listed in protocol/PROTOCOL.md.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSON?

    public init(code: Int, message: String, data: JSON? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var description: String { "error \(code): \(message)" }

    /// The error object of a response.
    public var json: JSON {
        var object: JSONObject = ["code": .int(Int64(code)), "message": .string(message)]
        object["data"] = data
        return .object(object)
    }

    public init?(json: JSON) {
        guard let code = json["code"]?.intValue, let message = json["message"]?.stringValue else { return nil }
        self.init(code: Int(code), message: message, data: json["data"])
    }
}

extension RPCError {
    /// Codes defined by JSON-RPC 2.0 itself.
    public static let parseErrorCode = -32700
    public static let invalidRequestCode = -32600
    public static let methodNotFoundCode = -32601
    public static let invalidParamsCode = -32602
    public static let internalErrorCode = -32603

    /// Baton's session and transport codes, in the range JSON-RPC leaves to servers.
    public static let unauthorizedCode = -32001
    public static let notInitializedCode = -32002
    public static let alreadyInitializedCode = -32003
    public static let unsupportedProtocolCode = -32004
    public static let roleNotAllowedCode = -32005
    public static let messageTooLargeCode = -32006
    public static let limitExceededCode = -32008

    public static func parseError(_ detail: String) -> RPCError {
        RPCError(code: parseErrorCode, message: "Parse error: \(detail)")
    }

    public static func invalidRequest(_ detail: String) -> RPCError {
        RPCError(code: invalidRequestCode, message: "Invalid Request: \(detail)")
    }

    public static func methodNotFound(_ method: String) -> RPCError {
        RPCError(code: methodNotFoundCode, message: "Method not found: \(method)")
    }

    public static func invalidParams(_ detail: String) -> RPCError {
        RPCError(code: invalidParamsCode, message: "Invalid params: \(detail)")
    }

    public static func internalError(_ detail: String) -> RPCError {
        RPCError(code: internalErrorCode, message: "Internal error: \(detail)")
    }

    public static func unauthorized(_ detail: String) -> RPCError {
        RPCError(code: unauthorizedCode, message: "Unauthorized: \(detail)")
    }

    public static func limitExceeded(_ detail: String, setting: String, limit: Int) -> RPCError {
        RPCError(
            code: limitExceededCode,
            message: "Limit exceeded: \(detail) (setting \(setting))",
            data: ["setting": .string(setting), "limit": .int(Int64(limit))]
        )
    }
}
