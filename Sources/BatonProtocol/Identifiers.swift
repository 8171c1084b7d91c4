/// A name or id that is only ever compared, stored and shown, of one `Kind`: a pool id
/// cannot be passed where a sandbox id is wanted. The wire and the store carry the raw
/// string.
public struct Identifier<Kind>: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }
    public static func < (left: Self, right: Self) -> Bool { left.rawValue < right.rawValue }
}

public enum AppKind {}
public enum PoolKind {}
public enum SandboxKind {}
public enum LeaseKind {}
public enum DeploymentKind {}

public typealias AppName = Identifier<AppKind>
public typealias PoolID = Identifier<PoolKind>
public typealias SandboxID = Identifier<SandboxKind>
public typealias LeaseID = Identifier<LeaseKind>
public typealias DeploymentID = Identifier<DeploymentKind>
