import BatonJSON
import BatonRPC

/// Baton's domain errors (PROTOCOL.md §6): 1000–1999 for schedulers, 2000–2999 for routers,
/// 3000–3999 for admins. The protocol's own codes are `RPCError`'s.
public enum ProtocolErrorCode: Int, Sendable, Hashable, CaseIterable {
    case unknownPool = 1001
    case wrongPool = 1002
    case noSandbox = 2001
    case unknownApp = 2002
    case leaseGone = 2003
    case requestFailed = 2004
    case invalidDeploy = 3001
    case versionConflict = 3002
    case unknownRoute = 3003
    case nothingToRollBackTo = 3004
    case unknownService = 3005
    case appBeingRemoved = 3006
    case notLeading = 3007
}

extension RPCError {
    /// A domain error; one the caller may retry says after how long, in `data`.
    public init(_ code: ProtocolErrorCode, message: String, retryAfter: Duration? = nil) {
        let data: JSON? = retryAfter.map { ["retryable": true, "retryAfterMs": .int($0.milliseconds)] }
        self.init(code: code.rawValue, message: message, data: data)
    }

    /// The domain error this is, if it is one.
    public var protocolCode: ProtocolErrorCode? { ProtocolErrorCode(rawValue: code) }
}
