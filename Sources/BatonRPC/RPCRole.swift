/// What a session is for, fixed by its `host.hello`. A method is callable only from
/// the roles it lists.
public enum RPCRole: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Starts and stops sandboxes and reports their state.
    case scheduler
    /// Fetches leases and sends traffic to sandboxes.
    case router
    /// Deploys, routes and inspects.
    case admin

    public var description: String { rawValue }
}
