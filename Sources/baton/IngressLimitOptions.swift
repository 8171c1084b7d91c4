import ArgumentParser
import BatonIngress
import NIOCore

/// The ingress's limits as flags of `baton serve`; each names the setting its error quotes.
struct IngressLimitOptions: ParsableArguments {
    @Option(help: "Connect timeout to a sandbox in ms (ingress.connectTimeoutMs, default 2000).")
    var ingressConnectTimeoutMs: Int64?
    @Option(help: "Retries after the first try (ingress.maxRetries, default 2).")
    var ingressMaxRetries: Int?
    @Option(help: "Request body bytes kept for a retry (ingress.replayBufferBytes, default 1 MiB).")
    var ingressReplayBufferBytes: Int?
    @Option(help: "How long a request waits for a ready sandbox, in ms (ingress.holdTimeoutMs, default 30000).")
    var ingressHoldTimeoutMs: Int64?
    @Option(help: "Requests of one app waiting for a sandbox at once (ingress.holdQueueDepth, default 1024).")
    var ingressHoldQueueDepth: Int?
    @Option(help: "Time for a sandbox to start answering, in ms (ingress.responseHeaderTimeoutMs, default 60000).")
    var ingressResponseHeaderTimeoutMs: Int64?
    @Option(help: "Time for a client to send a request head, in ms (ingress.headerTimeoutMs, default 10000).")
    var ingressHeaderTimeoutMs: Int64?
    @Option(help: "Largest request head in bytes (ingress.maxHeaderBytes, default 65536).")
    var ingressMaxHeaderBytes: Int?
    @Option(help: "How long a WebSocket to a draining sandbox lives on, in ms (ingress.streamDrainDeadlineMs, default 1 h).")
    var ingressStreamDrainDeadlineMs: Int64?
    @Option(help: "Window over which those closes are spread, in ms (ingress.streamCloseJitterMs, default 60000).")
    var ingressStreamCloseJitterMs: Int64?
    @Option(help: "Largest request body in bytes (ingress.maxBodyBytes, default 1 GiB).")
    var ingressMaxBodyBytes: Int64?

    func apply(to configuration: inout IngressConfiguration) throws {
        func positive<T: BinaryInteger>(_ value: T?, _ flag: String) throws -> T? {
            guard let value else { return nil }
            guard value >= 0 else { throw ValidationError("--\(flag) must not be negative; got \(value)") }
            return value
        }
        if let value = try positive(ingressConnectTimeoutMs, "ingress-connect-timeout-ms") { configuration.connectTimeout = .milliseconds(value) }
        if let value = try positive(ingressMaxRetries, "ingress-max-retries") { configuration.maxRetries = value }
        if let value = try positive(ingressReplayBufferBytes, "ingress-replay-buffer-bytes") { configuration.replayBufferBytes = value }
        if let value = try positive(ingressHoldTimeoutMs, "ingress-hold-timeout-ms") { configuration.holdTimeout = .milliseconds(value) }
        if let value = try positive(ingressHoldQueueDepth, "ingress-hold-queue-depth") { configuration.holdQueueDepth = value }
        if let value = try positive(ingressResponseHeaderTimeoutMs, "ingress-response-header-timeout-ms") {
            configuration.responseHeaderTimeout = .milliseconds(value)
        }
        if let value = try positive(ingressHeaderTimeoutMs, "ingress-header-timeout-ms") { configuration.headerTimeout = .milliseconds(value) }
        if let value = try positive(ingressMaxHeaderBytes, "ingress-max-header-bytes") { configuration.maxHeaderBytes = value }
        if let value = try positive(ingressMaxBodyBytes, "ingress-max-body-bytes") { configuration.maxBodyBytes = value }
        if let value = try positive(ingressStreamDrainDeadlineMs, "ingress-stream-drain-deadline-ms") {
            configuration.streamDrainDeadline = .milliseconds(value)
        }
        if let value = try positive(ingressStreamCloseJitterMs, "ingress-stream-close-jitter-ms") {
            configuration.streamCloseJitter = .milliseconds(value)
        }
    }
}
