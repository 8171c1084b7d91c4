import BatonAdmin
import BatonLoad
import Foundation

/// What the demo's clients saw across the rollovers, in a few lines.
struct DemoSummary {
    var recorder: LoadRecorder
    var outcomes: [DeployProgress.Outcome]
    var stream: EventStreamWatcher.State
    var socket: WebSocketWatcher.State
    var oldSandboxesLeft: [String]
    /// How many times each POST ran, counted across every sandbox of every version.
    var postRuns: [String: Int]

    /// Prints the summary; returns whether the clients saw no error at all.
    func print(_ say: (String) -> Void) -> Bool {
        let samples = recorder.all
        let failures = samples.compactMap(\.failure)
        let posts = samples.filter { $0.kind == "POST" }
        let puts = samples.filter { $0.kind == "PUT" }
        let failedDeploys = outcomes.filter { !$0.succeeded }
        say("")
        say("Summary of \(outcomes.count) rollovers:")
        say(
            "  requests: \(samples.count) (GET \(samples.count - posts.count - puts.count), POST \(posts.count), PUT \(puts.count)); errors: \(failures.count)"
        )
        var kinds: [String: Int] = [:]
        for failure in failures { kinds[String(failure.prefix(80)), default: 0] += 1 }
        for (kind, count) in kinds.sorted(by: { $0.value > $1.value }).prefix(5) { say("    \(count) × \(kind)") }
        say("  latency during rollovers: \(Self.percentiles(recorder.latencies(insideRollovers: true)))")
        say("  latency outside rollovers: \(Self.percentiles(recorder.latencies(insideRollovers: false)))")
        let gates = outcomes.compactMap(\.readyToCutoverMs).sorted()
        let deploys = outcomes.compactMap(\.cutover).sorted()
        if let gate = gates.last, let deploy = deploys.last {
            say(
                "  cutover after the new version's last ready report: median \(gates[gates.count / 2]) ms, max \(gate) ms"
                    + " (deploy to cutover, sandboxes starting included: median \(DeployProgress.milliseconds(deploys[deploys.count / 2])) ms,"
                    + " max \(DeployProgress.milliseconds(deploy)) ms)"
            )
        }
        let ranTwice = postRuns.filter { $0.value > 1 }.keys.sorted()
        let answered = posts.filter { $0.failure == nil }.count
        say(
            "  POSTs executed exactly once: \(answered) of \(posts.count) answered; across all sandboxes \(postRuns.count) ran, \(ranTwice.count) more than once"
        )
        for id in ranTwice.prefix(5) { say("    \(id) ran \(postRuns[id] ?? 0) times") }
        say("  PUT bodies that arrived intact: \(puts.filter { $0.failure == nil }.count) of \(puts.count)")
        let streamAlive = stream.ended == nil && stream.events > 0
        say(
            "  event stream opened before the first rollover: "
                + (streamAlive
                    ? "still open, \(stream.events) events"
                    : "ended (\(stream.ended ?? "no events")) after \(stream.events) events")
                + (stream.lastLine.map { ", last \"\($0)\"" } ?? "")
        )
        let socketAlive = socket.upgraded && socket.ended == nil && socket.echoed > 0
        say(
            "  WebSocket opened before the first rollover: "
                + (socketAlive
                    ? "still open, \(socket.echoed) of \(socket.sent) messages echoed"
                    : "ended (\(socket.ended ?? "never upgraded"))")
        )
        say(
            "  sandboxes of old versions still running at the end: \(oldSandboxesLeft.count)\(oldSandboxesLeft.isEmpty ? "" : " (\(oldSandboxesLeft.joined(separator: ", ")))")"
        )
        for outcome in failedDeploys { say("  deploy \(outcome.deployment) failed: \(outcome.reason ?? "?")") }
        let clean =
            failures.isEmpty && failedDeploys.isEmpty && streamAlive && socketAlive && oldSandboxesLeft.isEmpty
            && ranTwice.isEmpty
        say(clean ? "No client saw an error." : "Clients saw errors: see above.")
        return clean
    }

    private static func percentiles(_ sorted: [Duration]) -> String {
        guard let p50 = LoadRecorder.percentile(sorted, 0.5), let p99 = LoadRecorder.percentile(sorted, 0.99),
            let max = sorted.last
        else {
            return "no requests"
        }
        return "p50 \(format(p50)), p99 \(format(p99)), max \(format(max)) over \(sorted.count) requests"
    }

    private static func format(_ duration: Duration) -> String {
        let microseconds = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        return microseconds < 10_000 ? "\(Double(microseconds / 10) / 100) ms" : "\(microseconds / 1000) ms"
    }
}

/// The shared file where every sandbox of examples/hello writes the id of each POST it runs.
enum PostLedger {
    static func runs(in path: String) -> [String: Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var runs: [String: Int] = [:]
        for line in text.split(separator: "\n") where !line.isEmpty { runs[String(line), default: 0] += 1 }
        return runs
    }
}
