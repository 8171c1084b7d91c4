import BatonHost
import BatonJSON
import BatonRPC

/// Submits one deploy and follows its events until it is done, failed or superseded,
/// printing a line per step.
struct DeployProgress {
    struct Outcome {
        var deployment: String
        var succeeded: Bool
        var reason: String?
        /// From `app.deploy` to `deploy.cutover`, and to the end followed.
        var cutover: Duration?
        var total: Duration
        /// From the report that completed the new version's readiness to the cutover, by the
        /// host's own event times.
        var readyToCutoverMs: Int64?
    }

    var socket: String
    var tokenFile: String?
    var say: @Sendable (String) -> Void
    /// Return at the cutover instead of waiting for the old version to drain.
    var untilCutover = false

    func run(_ deploy: JSON) async throws -> Outcome {
        let app = deploy["app"]?.stringValue ?? ""
        let version = deploy["version"]?.stringValue ?? "?"
        let client = try await HostSession.open(socket: socket, tokenFile: tokenFile, name: "baton-deploy")
        defer { Task { await client.close() } }
        // Watch first, so no event of this deploy is missed.
        _ = try await client.call("events.watch", ["apps": [.string(app)]])
        let started = ContinuousClock.now
        let deployment = try await client.call("app.deploy", deploy)["deployment"]?.stringValue ?? "?"
        say("deploy \(deployment): \(app) \(version)")
        var cutover: Duration?
        var lastReadyMs: Int64?
        for await notification in client.notifications where notification.method == "event" {
            guard let event = notification.params, let type = event["type"]?.stringValue else { continue }
            let elapsed = ContinuousClock.now - started
            let own = event["deployment"]?.stringValue == deployment
            let detail = [event["service"], event["pool"], event["sandbox"], event["reason"]].compactMap { $0?.stringValue }.joined(separator: " ")
            if type == "sandbox.ready", event["version"]?.stringValue == version { lastReadyMs = event["time"]?.intValue }
            switch type {
            case "sandbox.ready" where event["version"]?.stringValue == version, "sandbox.failed" where event["version"]?.stringValue == version,
                "pool.created" where own, "sandbox.draining" where own, "pool.scaled_down" where own:
                say("  \(Self.milliseconds(elapsed)) ms  \(type)  \(detail)")
            case "deploy.cutover" where own:
                cutover = elapsed
                let gate = lastReadyMs.flatMap { ready in event["time"]?.intValue.map { $0 - ready } }
                say("  \(Self.milliseconds(elapsed)) ms  \(type): traffic now goes to \(version)")
                if untilCutover {
                    return Outcome(deployment: deployment, succeeded: true, cutover: cutover, total: elapsed, readyToCutoverMs: gate)
                }
            case "deploy.done" where own:
                say("  \(Self.milliseconds(elapsed)) ms  done")
                return Outcome(deployment: deployment, succeeded: true, cutover: cutover, total: elapsed)
            case "deploy.failed" where own, "deploy.superseded" where own:
                let reason = event["reason"]?.stringValue ?? type
                say("  \(Self.milliseconds(elapsed)) ms  \(type): \(reason)")
                return Outcome(deployment: deployment, succeeded: false, reason: reason, cutover: cutover, total: elapsed)
            default:
                continue
            }
        }
        return Outcome(
            deployment: deployment, succeeded: false, reason: "the connection to the host closed before the deploy ended",
            cutover: cutover, total: ContinuousClock.now - started)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
