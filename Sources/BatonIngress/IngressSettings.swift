import BatonCore
import NIOCore

/// The ingress's limits, by setting name.
extension IngressConfiguration {
    public static let numericSettings: [String: NumericSetting<IngressConfiguration>] = [
        "ingress.connectTimeoutMs": NumericSetting(minimum: 1) { $0.connectTimeout = .milliseconds($1) },
        "ingress.maxRetries": NumericSetting(minimum: 0) { $0.maxRetries = Int($1) },
        "ingress.replayBufferBytes": NumericSetting(minimum: 0) { $0.replayBufferBytes = Int($1) },
        "ingress.holdTimeoutMs": NumericSetting(minimum: 0) { $0.holdTimeout = .milliseconds($1) },
        "ingress.holdQueueDepth": NumericSetting(minimum: 0) { $0.holdQueueDepth = Int($1) },
        "ingress.responseHeaderTimeoutMs": NumericSetting(minimum: 1) { $0.responseHeaderTimeout = .milliseconds($1) },
        "ingress.headerTimeoutMs": NumericSetting(minimum: 1) { $0.headerTimeout = .milliseconds($1) },
        "ingress.idleTimeoutMs": NumericSetting(minimum: 1) { $0.idleTimeout = .milliseconds($1) },
        "ingress.maxHeaderBytes": NumericSetting(minimum: 1) { $0.maxHeaderBytes = Int($1) },
        "ingress.maxBodyBytes": NumericSetting(minimum: 0) { $0.maxBodyBytes = $1 },
        "ingress.leaseSlots": NumericSetting(minimum: 1) { $0.leaseSlots = Int($1) },
        "ingress.streamDrainDeadlineMs": NumericSetting(minimum: 0) { $0.streamDrainDeadline = .milliseconds($1) },
        "ingress.streamCloseJitterMs": NumericSetting(minimum: 0) { $0.streamCloseJitter = .milliseconds($1) },
        "ingress.upstreamSafeReuseMs": NumericSetting(minimum: 0) { $0.upstreamSafeReuse = .milliseconds($1) },
    ]
}
