/// Why a call to etcd did not do what was asked. Every message names etcd, so an operator
/// who reads it knows which part failed.
public enum EtcdError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No endpoint answered.
    case unreachable(endpoints: [String], reason: String)
    /// etcd answered with an error (its gRPC code and message).
    case server(code: Int64, message: String)
    /// A read or watch asked for history etcd has compacted: read everything again.
    case compacted(revision: Int64)
    /// A watch ended from etcd's side.
    case watchEnded(reason: String)
    /// The answer was not what the JSON gateway writes.
    case malformed(String)

    public var description: String {
        switch self {
        case .unreachable(let endpoints, let reason):
            "etcd unreachable at \(endpoints.joined(separator: ",")): \(reason)"
        case .server(let code, let message): "etcd refused (code \(code)): \(message)"
        case .compacted(let revision): "etcd compacted its history up to revision \(revision)"
        case .watchEnded(let reason): "etcd ended the watch: \(reason)"
        case .malformed(let reason): "etcd answered something unexpected: \(reason)"
        }
    }

    /// gRPC's code for a lease etcd does not know (expired or revoked).
    static let notFound: Int64 = 5
    /// gRPC's code etcd uses for a compacted revision.
    static let outOfRange: Int64 = 11
}
