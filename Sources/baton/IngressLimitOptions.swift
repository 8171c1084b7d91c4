import ArgumentParser

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
    @Option(help: "A POST goes only on a sandbox connection idle less than this, in ms (ingress.upstreamSafeReuseMs, default 1000).")
    var ingressUpstreamSafeReuseMs: Int64?
    @Option(help: "Largest request body in bytes (ingress.maxBodyBytes, default 1 GiB).")
    var ingressMaxBodyBytes: Int64?

    /// The flags given, by setting name.
    var settings: [String: Int64] {
        let given: [(String, Int64?)] = [
            ("ingress.connectTimeoutMs", ingressConnectTimeoutMs), ("ingress.maxRetries", ingressMaxRetries.map(Int64.init)),
            ("ingress.replayBufferBytes", ingressReplayBufferBytes.map(Int64.init)), ("ingress.holdTimeoutMs", ingressHoldTimeoutMs),
            ("ingress.holdQueueDepth", ingressHoldQueueDepth.map(Int64.init)),
            ("ingress.responseHeaderTimeoutMs", ingressResponseHeaderTimeoutMs), ("ingress.headerTimeoutMs", ingressHeaderTimeoutMs),
            ("ingress.maxHeaderBytes", ingressMaxHeaderBytes.map(Int64.init)), ("ingress.maxBodyBytes", ingressMaxBodyBytes),
            ("ingress.streamDrainDeadlineMs", ingressStreamDrainDeadlineMs), ("ingress.streamCloseJitterMs", ingressStreamCloseJitterMs),
            ("ingress.upstreamSafeReuseMs", ingressUpstreamSafeReuseMs),
        ]
        return Dictionary(given.compactMap { name, value in value.map { (name, $0) } }, uniquingKeysWith: { $1 })
    }
}
