/// How strongly the spec asks for what a case checks.
public enum Requirement: String, Sendable {
    case must = "MUST"
    case should = "SHOULD"
}

/// One check of the kit: a name to select it by, the spec section it enforces, and the
/// scenario itself. A scenario fails by throwing `CaseFailure`, skips with `CaseSkip`.
public struct ContractCase<Context: Sendable>: Sendable {
    public var name: String
    public var section: String
    public var requirement: Requirement
    public var run: @Sendable (Context) async throws -> Void

    public init(
        _ name: String,
        section: String,
        _ requirement: Requirement = .must,
        run: @escaping @Sendable (Context) async throws -> Void
    ) {
        self.name = name
        self.section = section
        self.requirement = requirement
        self.run = run
    }
}

public struct CaseFailure: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

public struct CaseSkip: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Fails the case with `message` unless `condition` holds.
public func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CaseFailure(message()) }
}

/// Waits for `body` up to `seconds`; a plugin that never does what a case waits for fails
/// it with `what` instead of hanging the kit.
public func within<T: Sendable>(
    _ seconds: Double,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T?
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw CaseFailure("\(what) did not happen within \(seconds) s")
        }
        return value
    }
}
