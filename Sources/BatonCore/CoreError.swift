/// A refusal from the core, with a stable code for the protocol (see PROTOCOL.md) and
/// a sentence for people.
public struct CoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: ProtocolErrorCode
    public var message: String
    /// When set, the caller may try again after this long.
    public var retryAfter: Duration?

    public var description: String { message }

    public init(code: ProtocolErrorCode, message: String, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func invalidDeploy(_ detail: String) -> CoreError {
        CoreError(code: .invalidDeploy, message: "Invalid deploy: \(detail)")
    }

    public static func unknownApp(_ app: AppName) -> CoreError {
        CoreError(code: .unknownApp, message: "Unknown app \"\(app)\": deploy it first")
    }

    /// A call that changes the cluster's state, made on a node that does not lead it, and why.
    public static func notLeading(_ why: String) -> CoreError {
        CoreError(
            code: .notLeading,
            message:
                "This node does not lead its cluster now (\(why)): calls that change apps, deploys or routes go to the leader",
            retryAfter: .seconds(1)
        )
    }

    public static func beingRemoved(_ app: AppName) -> CoreError {
        CoreError(
            code: .appBeingRemoved,
            message: "App \"\(app)\" is being removed; deploy it again once its app.removed event came"
        )
    }
}
