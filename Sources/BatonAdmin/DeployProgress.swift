import BatonJSON
import BatonProtocol
import BatonRPC

/// Submits one deploy and follows its events until it is done, failed or superseded,
/// printing a line per step.
public struct DeployProgress: Sendable {
    public struct Outcome: Sendable {
        public var deployment: String
        public var succeeded: Bool
        public var reason: String?
        /// From `app.deploy` to `deploy.cutover`, and to the end followed.
        public var cutover: Duration?
        public var total: Duration
        /// From the report that completed the new version's readiness to the cutover, by the
        /// host's own event times.
        public var readyToCutoverMs: Int64?
        /// When this client heard of the new version's last `sandbox.ready` before the cutover.
        public var readyHeardAt: ContinuousClock.Instant?
    }

    public var socket: String
    public var tokenFile: String?
    public var say: @Sendable (String) -> Void
    /// Return at the cutover instead of waiting for the old version to drain.
    public var untilCutover: Bool

    public init(
        socket: String,
        tokenFile: String?,
        say: @escaping @Sendable (String) -> Void,
        untilCutover: Bool = false
    ) {
        self.socket = socket
        self.tokenFile = tokenFile
        self.say = say
        self.untilCutover = untilCutover
    }

    public func run(_ deploy: JSON) async throws -> Outcome {
        let version = deploy["version"]?.stringValue ?? "?"
        return try await follow(app: deploy["app"]?.stringValue ?? "") { client in
            (try await client.call(.appDeploy, deploy)["deployment"]?.stringValue ?? "?", version)
        }
    }

    /// `app.rollback`, followed the same way as a deploy.
    public func rollback(app: String) async throws -> Outcome {
        try await follow(app: app) { client in
            let result = try await client.call(.appRollback, ["app": .string(app)])
            return (result["deployment"]?.stringValue ?? "?", result["version"]?.stringValue ?? "?")
        }
    }

    /// Watches `app`'s events, then starts a deployment with `start`, and follows it.
    private func follow(
        app: String,
        start: (RPCClient) async throws -> (deployment: String, version: String)
    ) async throws -> Outcome {
        try await HostSession.with(socket: socket, tokenFile: tokenFile, name: "baton-deploy") { client in
            // Watch first, so no event of this deploy is missed.
            _ = try await client.call(.eventsWatch, ["apps": [.string(app)]])
            let started = ContinuousClock.now
            let (deployment, version) = try await start(client)
            say("deploy \(deployment): \(app) \(version)")
            return await follow(client, app: app, deployment: deployment, version: version, since: started)
        }
    }

    private func follow(
        _ client: RPCClient,
        app: String,
        deployment: String,
        version: String,
        since started: ContinuousClock.Instant
    ) async -> Outcome {
        var cutover: Duration?
        var lastReadyMs: Int64?
        var readyHeardAt: ContinuousClock.Instant?
        var readyToCutoverMs: Int64?
        func outcome(succeeded: Bool, reason: String? = nil, total: Duration) -> Outcome {
            Outcome(
                deployment: deployment,
                succeeded: succeeded,
                reason: reason,
                cutover: cutover,
                total: total,
                readyToCutoverMs: readyToCutoverMs,
                readyHeardAt: readyHeardAt
            )
        }
        for await notification in client.notifications where notification.is(.event) {
            guard let event = notification.params.flatMap(EventMessage.init(json:)) else { continue }
            let elapsed = ContinuousClock.now - started
            let own = event.deployment?.rawValue == deployment
            let ofVersion = event.version == version
            let detail = [event.service, event.pool?.rawValue, event.sandbox?.rawValue, event.reason].compactMap { $0 }
                .joined(separator: " ")
            let type = event.type.rawValue
            if event.type == .sandboxReady, ofVersion {
                lastReadyMs = event.timeMs
                if cutover == nil { readyHeardAt = .now }
            }
            switch event.type {
            case .sandboxReady where ofVersion, .sandboxFailed where ofVersion, .poolCreated where own,
                .sandboxDraining where own, .poolScaledDown where own:
                say("  \(Self.milliseconds(elapsed)) ms  \(type)  \(detail)")
            case .deployCutover where own:
                cutover = elapsed
                readyToCutoverMs = lastReadyMs.map { event.timeMs - $0 }
                say("  \(Self.milliseconds(elapsed)) ms  \(type): traffic now goes to \(version)")
                if untilCutover { return outcome(succeeded: true, total: elapsed) }
            case .deployDone where own:
                say("  \(Self.milliseconds(elapsed)) ms  done")
                return outcome(succeeded: true, total: elapsed)
            case .deployFailed where own, .deploySuperseded where own:
                let reason = event.reason ?? type
                say("  \(Self.milliseconds(elapsed)) ms  \(type): \(reason)")
                return outcome(succeeded: false, reason: reason, total: elapsed)
            default:
                continue
            }
        }
        return outcome(
            succeeded: false,
            reason: "the connection to the host closed before the deploy ended",
            total: .now - started
        )
    }

    public static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
