import BatonJSON
import BatonLoad
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Faults under steady load through Baton, each counted on its own: kill -9 of a ready
/// sandbox, kill -9 of the scheduler plugin, and SIGSTOP of a sandbox (with a 1 s response
/// header timeout, so a frozen sandbox shows within the run).
struct Faults {
    var target: BatonTarget
    var load: Scenario.LoadShape
    /// How long each fault's load runs after the fault.
    var after: Duration = .seconds(4)

    struct Outcome {
        var fault: String
        var samples: [LoadRecorder.Sample]
        var note: String
    }

    static let settings = ["ingress.responseHeaderTimeoutMs": 1000]

    func run(say: (String) -> Void) async -> [Outcome] {
        var outcomes: [Outcome] = []
        do {
            try await target.start()
            outcomes.append(
                try await measure("kill -9 of a ready sandbox") {
                    let victim = try sandboxPids().first!
                    kill(victim, SIGKILL)
                    return "pid \(victim) killed; the scheduler reports it failed and starts another"
                }
            )
            outcomes.append(
                try await measure("kill -9 of the scheduler plugin") {
                    let before = try schedulerPid()
                    let sandboxes = try sandboxPids()
                    kill(before, SIGKILL)
                    try await Task.sleep(for: after - .milliseconds(500))
                    let back = (try? schedulerPid()).map { "restarted as pid \($0)" } ?? "NOT restarted"
                    let kept =
                        try sandboxPids() == sandboxes ? "the same sandbox pids still serve" : "sandbox pids CHANGED"
                    return "pid \(before) killed; \(back); \(kept)"
                }
            )
            outcomes.append(
                try await measure("SIGSTOP of a ready sandbox for 4 s") {
                    let victim = try sandboxPids().first!
                    kill(victim, SIGSTOP)
                    try await Task.sleep(for: after)
                    kill(victim, SIGCONT)
                    return "pid \(victim) frozen, then resumed"
                }
            )
        } catch {
            say("  faults stopped: \(error)")
        }
        await target.stop()
        return outcomes
    }

    /// Load for a second, the fault, then load for `after`; the counts are this fault's alone.
    private func measure(_ fault: String, _ inject: () async throws -> String) async throws -> Outcome {
        let recorder = LoadRecorder()
        let loading = load.start(port: target.port, recorder: recorder)
        defer { loading.cancel() }
        try await Task.sleep(for: .seconds(1))
        let started = ContinuousClock.now
        let note = try await inject()
        let left = after - (ContinuousClock.now - started)
        if left > .zero { try await Task.sleep(for: left) }
        loading.cancel()
        await loading.value
        return Outcome(fault: fault, samples: recorder.all, note: note)
    }

    /// The sandboxes the process scheduler has on record, by pid.
    private func sandboxPids() throws -> [Int32] {
        let path = target.stateDirectory + "/process-scheduler/sandboxes.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SwitchFailure(description: "no \(path)")
        }
        return try (JSON.parse(data)["sandboxes"]?.arrayValue ?? []).compactMap {
            $0["pid"]?.intValue.map { Int32($0) }
        }.sorted()
    }

    /// The child of `baton serve` that runs the built-in scheduler.
    private func schedulerPid() throws -> Int32 {
        guard let host = target.pid else { throw SwitchFailure(description: "baton serve has no pid") }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            let name = stat[stat.index(after: open)..<close]
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if name.hasPrefix("baton-process"), fields.count > 1, Int32(fields[1]) == host { return pid }
        }
        throw SwitchFailure(description: "no scheduler process under baton serve (pid \(host))")
    }
}
