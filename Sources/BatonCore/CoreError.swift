/// A refusal from the core, with a stable code for the protocol (see PROTOCOL.md) and
/// a sentence for people.
public struct CoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var message: String
    /// When set, the caller may try again after this long.
    public var retryAfter: Duration?

    public var description: String { message }

    public init(code: Int, message: String, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static let invalidDeployCode = 3001
    public static let versionConflictCode = 3002
    public static let unknownAppCode = 2002
    public static let noSandboxCode = 2001
    public static let leaseGoneCode = 2003
    public static let unknownPoolCode = 1001
    public static let unknownRouteCode = 3003

    public static func invalidDeploy(_ detail: String) -> CoreError {
        CoreError(code: invalidDeployCode, message: "Invalid deploy: \(detail)")
    }

    public static func unknownApp(_ app: AppName) -> CoreError {
        CoreError(code: unknownAppCode, message: "Unknown app \"\(app)\": deploy it first")
    }
}
