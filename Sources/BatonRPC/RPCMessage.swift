import BatonJSON

/// A request id, echoed back exactly as the client sent it.
public enum RPCID: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case real(Double)
    case null

    init?(json: JSON) {
        switch json {
        case .string(let value): self = .string(value)
        case .int(let value): self = .int(value)
        case .real(let value): self = .real(value)
        case .null: self = .null
        default: return nil
        }
    }

    public var json: JSON {
        switch self {
        case .string(let value): .string(value)
        case .int(let value): .int(value)
        case .real(let value): .real(value)
        case .null: .null
        }
    }

    public var description: String { json.description }
}

/// One well-formed JSON-RPC 2.0 request; `id == nil` makes it a notification.
public struct RPCRequest: Sendable, Hashable {
    public var method: String
    public var params: JSON?
    public var id: RPCID?

    public init(method: String, params: JSON? = nil, id: RPCID?) {
        self.method = method
        self.params = params
        self.id = id
    }

    public var isNotification: Bool { id == nil }

    /// Checks a decoded message against JSON-RPC 2.0. A failure carries the id when
    /// one could be read, so the client can still match the error to its call.
    static func validate(_ message: JSON) -> Result<RPCRequest, RPCErrorResponse> {
        guard case .object(let members) = message else {
            return .failure(
                RPCErrorResponse(
                    id: .null,
                    error: .invalidRequest("a request must be an object, not \(message.typeName)")
                )
            )
        }
        var id: RPCID?
        if let rawID = members["id"] {
            guard let parsed = RPCID(json: rawID) else {
                return .failure(
                    RPCErrorResponse(
                        id: .null,
                        error: .invalidRequest("id must be a string, a number or null, not \(rawID.typeName)")
                    )
                )
            }
            id = parsed
        }
        let failureID = id ?? .null
        guard members["jsonrpc"] == .string("2.0") else {
            return .failure(
                RPCErrorResponse(id: failureID, error: .invalidRequest(#"member "jsonrpc" must be exactly "2.0""#))
            )
        }
        guard let method = members["method"]?.stringValue else {
            return .failure(
                RPCErrorResponse(id: failureID, error: .invalidRequest(#"member "method" must be a string"#))
            )
        }
        let params = members["params"]
        if let params {
            switch params {
            case .array, .object: break
            default:
                return .failure(
                    RPCErrorResponse(
                        id: failureID,
                        error: .invalidRequest(#"member "params" must be an array or an object"#)
                    )
                )
            }
        }
        return .success(RPCRequest(method: method, params: params, id: id))
    }

    public var json: JSON {
        var members: JSONObject = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { members["params"] = params }
        if let id { members["id"] = id.json }
        return .object(members)
    }
}

/// An error response that has not been written yet.
struct RPCErrorResponse: Error, Sendable, Hashable {
    var id: RPCID
    var error: RPCError
}

/// The JSON shapes of what the host sends.
enum RPCEnvelope {
    static func result(_ result: JSON, id: RPCID) -> JSON {
        ["jsonrpc": "2.0", "result": result, "id": id.json]
    }

    static func error(_ error: RPCError, id: RPCID) -> JSON {
        ["jsonrpc": "2.0", "error": error.json, "id": id.json]
    }

    static func notification(method: String, params: JSON) -> JSON {
        ["jsonrpc": "2.0", "method": .string(method), "params": params]
    }
}
