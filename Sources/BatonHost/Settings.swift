import BatonIngress
import NIOCore

/// A numeric setting of the host, declared once: its name (as `--set`, the config file's
/// `settings`, the errors and `baton settings` say it), unit, range and help, and where it
/// lives in the configuration, whose initial value is its default.
public struct Setting: Sendable {
    public enum Unit: String, Sendable {
        case milliseconds = "ms"
        case bytes
        case count
        case onOff = "0 or 1"
    }

    public let name: String
    public let unit: Unit
    public let range: ClosedRange<Int64>
    public let help: String
    private let read: @Sendable (HostConfiguration) -> Int64
    private let write: @Sendable (inout HostConfiguration, Int64) -> Void

    /// Its value in a configuration nobody changed.
    public var defaultValue: Int64 { read(.defaults) }

    /// Sets it, or says why not in words that name it.
    public func apply(_ value: Int64, to configuration: inout HostConfiguration) throws(SettingRefused) {
        guard range.contains(value) else {
            throw SettingRefused(
                description: "setting \(name) must be within \(range.lowerBound)...\(range.upperBound), not \(value)"
            )
        }
        write(&configuration, value)
    }

    public static func named(_ name: String) throws(SettingRefused) -> Setting {
        guard let setting = all.first(where: { $0.name == name }) else {
            throw SettingRefused(
                description: "unknown setting \(name); known: \(all.map(\.name).joined(separator: ", "))"
            )
        }
        return setting
    }
}

public struct SettingRefused: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension Setting {
    private static let most = Int64(Int32.max)

    /// A count or a size, kept as an `Int` in the configuration.
    private static func integer(
        _ unit: Unit,
        _ name: String,
        _ range: ClosedRange<Int64>,
        _ help: String,
        _ path: any WritableKeyPath<HostConfiguration, Int> & Sendable
    ) -> Setting {
        Setting(
            name: name,
            unit: unit,
            range: range,
            help: help,
            read: { Int64($0[keyPath: path]) },
            write: { $0[keyPath: path] = Int($1) }
        )
    }

    private static func time(
        _ name: String,
        _ range: ClosedRange<Int64>,
        _ help: String,
        _ path: any WritableKeyPath<HostConfiguration, TimeAmount> & Sendable
    ) -> Setting {
        Setting(
            name: name,
            unit: .milliseconds,
            range: range,
            help: help,
            read: { $0[keyPath: path].nanoseconds / 1_000_000 },
            write: { $0[keyPath: path] = .milliseconds($1) }
        )
    }

    /// Every setting, in the order `baton settings` and the README list them.
    public static let all: [Setting] = [
        integer(
            .bytes,
            "rpc.maxLineBytes",
            1...most,
            "Longest RPC line; a longer one gets -32006 and is skipped.",
            \.rpc.maxLineBytes
        ),
        integer(
            .count,
            "rpc.maxConnections",
            1...65_536,
            "Most RPC connections open at once; more get -32008 and are closed.",
            \.rpc.maxConnections
        ),
        integer(
            .count,
            "rpc.maxInFlight",
            1...65_536,
            "Most calls running at once per RPC connection; reading pauses at the limit.",
            \.rpc.maxInFlight
        ),
        integer(
            .count,
            "rpc.outboundQueue",
            1...most,
            "Notifications queued for a client that does not read before it is disconnected.",
            \.rpc.outboundQueue
        ),
        time(
            "rpc.writeStallTimeoutMs",
            1...most,
            "How long a client may leave its socket unread before it is disconnected.",
            \.rpc.writeStallTimeout
        ),
        time(
            "rpc.helloTimeoutMs",
            1...most,
            "How long a new connection has to send host.hello (-32002).",
            \.rpc.helloTimeout
        ),
        Setting(
            name: "leases.ttlMs",
            unit: .milliseconds,
            range: 100...86_400_000,
            help: "How long a lease lives without renewal.",
            read: { $0.leaseTTLMs },
            write: { $0.leaseTTLMs = $1 }
        ),
        Setting(
            name: "launcher.readinessGate",
            unit: .onOff,
            range: 0...1,
            help: "0 only to see what Baton prevents: cut over at once, admit sandboxes unchecked, no drain.",
            read: { $0.readinessGate ? 1 : 0 },
            write: { $0.readinessGate = $1 != 0 }
        ),
        Setting(
            name: "cluster.leaseTTLMs",
            unit: .milliseconds,
            range: 1_000...60_000,
            help: "A cluster node's etcd lease: how soon the other nodes notice it is gone, and another leads.",
            read: { $0.clusterLeaseTTLMs },
            write: { $0.clusterLeaseTTLMs = $1 }
        ),
        Setting(
            name: "cluster.requestTimeoutMs",
            unit: .milliseconds,
            range: 100...60_000,
            help: "One call of a cluster node to etcd, per endpoint.",
            read: { $0.clusterRequestTimeoutMs },
            write: { $0.clusterRequestTimeoutMs = $1 }
        ),
        Setting(
            name: "host.handoverDrainMs",
            unit: .milliseconds,
            range: 0...most,
            help: "How long a host that handed over lets its requests in flight finish before it exits.",
            read: { $0.handoverDrain.milliseconds },
            write: { $0.handoverDrain = .milliseconds($1) }
        ),
        Setting(
            name: "tls.certificateCheckMs",
            unit: .milliseconds,
            range: 100...86_400_000,
            help:
                "How often certificate files are looked at (one replaced on disk serves new handshakes within it) and ACME renewals for being due.",
            read: { $0.certificateCheckMs },
            write: { $0.certificateCheckMs = $1 }
        ),
        Setting(
            name: "acme.orderTimeoutMs",
            unit: .milliseconds,
            range: 1_000...3_600_000,
            help:
                "How long one ACME order may take, from asking to the certificate in hand, before it counts as failed.",
            read: { $0.acme.orderTimeout.milliseconds },
            write: { $0.acme.orderTimeout = .milliseconds($1) }
        ),
        Setting(
            name: "acme.retryInitialMs",
            unit: .milliseconds,
            range: 100...86_400_000,
            help: "The wait after a failed ACME order, doubling per failure in a row.",
            read: { $0.acme.retryInitial.milliseconds },
            write: { $0.acme.retryInitial = .milliseconds($1) }
        ),
        Setting(
            name: "acme.retryLimitMs",
            unit: .milliseconds,
            range: 100...604_800_000,
            help: "The longest wait after failed ACME orders.",
            read: { $0.acme.retryLimit.milliseconds },
            write: { $0.acme.retryLimit = .milliseconds($1) }
        ),
        integer(
            .bytes,
            "acme.maxResponseBytes",
            4_096...(64 << 20),
            "The most one answer of the ACME server may hold.",
            \.acme.maxResponseBytes
        ),
        time("ingress.connectTimeoutMs", 1...most, "Connect timeout to a sandbox.", \.ingressSettings.connectTimeout),
        integer(
            .count,
            "ingress.maxRetries",
            0...16,
            "Retries after the first try, where a retry is safe.",
            \.ingressSettings.maxRetries
        ),
        integer(
            .bytes,
            "ingress.replayBufferBytes",
            0...most,
            "Request body bytes kept so the request can be retried.",
            \.ingressSettings.replayBufferBytes
        ),
        time(
            "ingress.holdTimeoutMs",
            0...most,
            "How long a request waits for a ready sandbox before 503.",
            \.ingressSettings.holdTimeout
        ),
        integer(
            .count,
            "ingress.holdQueueDepth",
            0...most,
            "Requests of one app waiting for a sandbox at once; more get 503.",
            \.ingressSettings.holdQueueDepth
        ),
        time(
            "ingress.responseHeaderTimeoutMs",
            1...most,
            "Time for a sandbox to start answering before 504.",
            \.ingressSettings.responseHeaderTimeout
        ),
        time(
            "ingress.headerTimeoutMs",
            1...most,
            "Time for a client to send a request head before 408.",
            \.ingressSettings.headerTimeout
        ),
        time(
            "ingress.idleTimeoutMs",
            1...most,
            "Idle keep-alive client connections are closed after this.",
            \.ingressSettings.idleTimeout
        ),
        integer(
            .bytes,
            "ingress.maxHeaderBytes",
            1...most,
            "Largest request head; a larger one gets 431.",
            \.ingressSettings.maxHeaderBytes
        ),
        integer(
            .count,
            "ingress.maxHeaderFields",
            1...most,
            "Most header fields in a request head; more get 431.",
            \.ingressSettings.maxHeaderFields
        ),
        integer(
            .bytes,
            "ingress.maxChunkLineBytes",
            1...most,
            "Longest chunk size line of a chunked body, extensions included; a longer one gets 400.",
            \.ingressSettings.maxChunkLineBytes
        ),
        Setting(
            name: "ingress.maxBodyBytes",
            unit: .bytes,
            range: 0...Int64.max,
            help: "Largest request body; a larger one gets 413.",
            read: { $0.ingressSettings.maxBodyBytes },
            write: { $0.ingressSettings.maxBodyBytes = $1 }
        ),
        integer(
            .count,
            "ingress.leaseSlots",
            1...65_536,
            "Requests one lease of the ingress carries at once.",
            \.ingressSettings.leaseSlots
        ),
        time(
            "ingress.streamDrainDeadlineMs",
            0...most,
            "How long a stream to a draining sandbox lives on before it is closed.",
            \.ingressSettings.streamDrainDeadline
        ),
        time(
            "ingress.streamCloseJitterMs",
            0...most,
            "The window over which those closes are spread.",
            \.ingressSettings.streamCloseJitter
        ),
        time(
            "ingress.upstreamSafeReuseMs",
            0...most,
            "A request that may not run twice goes only on a sandbox connection idle less than this, else on a new one.",
            \.ingressSettings.upstreamSafeReuse
        ),
        time(
            "ingress.tlsHandshakeTimeoutMs",
            1...most,
            "How long a new HTTPS connection has to finish its TLS handshake before it is closed.",
            \.ingressSettings.tlsHandshakeTimeout
        ),
        time(
            "ingress.tlsCloseTimeoutMs",
            1...most,
            "How long a closing HTTPS connection waits for the client's close_notify, and for what it still has to send, before it is closed anyway.",
            \.ingressSettings.tlsCloseTimeout
        ),
        integer(
            .count,
            "ingress.h2MaxConcurrentStreams",
            1...65_536,
            "Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); past it, GOAWAY.",
            \.ingressSettings.h2MaxConcurrentStreams
        ),
        integer(
            .bytes,
            "ingress.h2StreamWindowBytes",
            65_535...(1 << 29),
            "Request body one HTTP/2 stream may send ahead of what is read; the connection's window is four times it.",
            \.ingressSettings.h2StreamWindowBytes
        ),
        integer(
            .count,
            "ingress.h2MaxStreamResets",
            1...65_536,
            "RST_STREAM frames one HTTP/2 connection may send in 30 s; past it, GOAWAY (rapid reset, CVE-2023-44487).",
            \.ingressSettings.h2MaxStreamResets
        ),
    ]
}

extension HostConfiguration {
    /// A configuration nobody changed, with the ingress on: its values are the defaults.
    static let defaults: HostConfiguration = {
        var configuration = HostConfiguration(socketPath: "")
        configuration.ingress = IngressConfiguration(port: 0)
        return configuration
    }()

    /// The ingress's settings; setting them without an ingress changes nothing.
    var ingressSettings: IngressConfiguration {
        get { ingress ?? IngressConfiguration(port: 0) }
        set { if ingress != nil { ingress = newValue } }
    }
}

extension Setting {
    /// The settings as the README's table: generated here, and checked against the README.
    public static var markdownTable: String {
        var lines = ["| setting | unit | default | range | what it limits |", "|---|---|---|---|---|"]
        for setting in all {
            lines.append(
                "| `\(setting.name)` | \(setting.unit.rawValue) | \(setting.defaultValue) | \(setting.range.lowerBound)…\(setting.range.upperBound) | \(setting.help) |"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
