import BatonCore
import BatonRPC
import NIOCore

/// Host-wide settings, by name.
extension HostConfiguration {
    public static let numericSettings: [String: NumericSetting<HostConfiguration>] = [
        "leases.ttlMs": NumericSetting(minimum: 100) { $0.leaseTTLMs = $1 },
        "launcher.readinessGate": NumericSetting(minimum: 0) { $0.readinessGate = $1 != 0 },
        "host.handoverDrainMs": NumericSetting(minimum: 0) { $0.handoverDrain = .milliseconds($1) },
    ]
}

/// The socket's limits, by setting name.
extension RPCServerConfiguration {
    public static let numericSettings: [String: NumericSetting<RPCServerConfiguration>] = [
        "rpc.maxLineBytes": NumericSetting(minimum: 1) { $0.maxLineBytes = Int($1) },
        "rpc.maxConnections": NumericSetting(minimum: 1) { $0.maxConnections = Int($1) },
        "rpc.maxInFlight": NumericSetting(minimum: 1) { $0.maxInFlight = Int($1) },
        "rpc.outboundQueue": NumericSetting(minimum: 1) { $0.outboundQueue = Int($1) },
        "rpc.writeStallTimeoutMs": NumericSetting(minimum: 1) { $0.writeStallTimeout = .milliseconds($1) },
        "rpc.helloTimeoutMs": NumericSetting(minimum: 1) { $0.helloTimeout = .milliseconds($1) },
    ]
}
