import BatonLoad

/// The tables the benchmark prints, in Markdown so they paste into BENCHMARKS.md.
enum Report {
    static func rollovers(_ results: [Scenario.Result]) -> [String] {
        var lines = [
            "| target | order | rollovers | requests | req/s | errors | errors by kind | p50 out / in (ms) | p99 out / in (ms) | p99 in ÷ out | max out / in (ms) | ready → first answer by new (ms, p50 / max) | host ready → cutover (ms, max) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for result in results {
            let (inside, outside) = result.rolloverLatency
            let failures = result.samples.compactMap(\.failure)
            let seconds =
                Double(result.loadDuration.components.seconds) + Double(result.loadDuration.components.attoseconds)
                / 1e18
            let p99Out = LoadRecorder.percentile(outside, 0.99)
            let p99In = LoadRecorder.percentile(inside, 0.99)
            let ratio = p99Out.flatMap { out in p99In.map { String(format: "%.2f", $0 / out) } } ?? "–"
            let cutovers = cutoverLatencies(result)
            let hostGate = result.steps.compactMap(\.hostReadyToCutoverMs).max().map(String.init) ?? "–"
            lines.append(
                "| \(result.name) | \(result.order) | \(result.steps.count)\(result.abort.map { " (stopped: \($0))" } ?? "") | \(result.samples.count) | "
                    + "\(seconds > 0 ? String(Int(Double(result.samples.count) / seconds)) : "–") | \(failures.count) | \(byKind(failures)) | "
                    + "\(ms(LoadRecorder.percentile(outside, 0.5))) / \(ms(LoadRecorder.percentile(inside, 0.5))) | \(ms(p99Out)) / \(ms(p99In)) | \(ratio) | "
                    + "\(ms(outside.last)) / \(ms(inside.last)) | "
                    + (cutovers.isEmpty
                        ? "– (switched before ready)"
                        : "\(ms(LoadRecorder.percentile(cutovers, 0.5))) / \(ms(cutovers.last))")
                    + " | \(hostGate) |"
            )
        }
        return lines
    }

    static func neverReady(_ results: [Scenario.Result]) -> [String] {
        var lines = [
            "| target | order | requests | errors | errors by kind | took (ms) | what happened |",
            "|---|---|---|---|---|---|---|",
        ]
        for result in results {
            let failures = result.neverReady.samples.compactMap(\.failure)
            lines.append(
                "| \(result.name) | \(result.order) | \(result.neverReady.samples.count) | \(failures.count) | \(byKind(failures)) | "
                    + "\(ms(result.neverReady.duration)) | \(result.neverReady.outcome) |"
            )
        }
        return lines
    }

    static func faults(_ outcomes: [Faults.Outcome]) -> [String] {
        var lines = ["| fault | requests | errors | errors by kind | what happened |", "|---|---|---|---|---|"]
        for outcome in outcomes {
            let failures = outcome.samples.compactMap(\.failure)
            lines.append(
                "| \(outcome.fault) | \(outcome.samples.count) | \(failures.count) | \(byKind(failures)) | \(outcome.note) |"
            )
        }
        return lines
    }

    /// Ready → the first answer by the new version, per rollover that knew when it was ready.
    static func cutoverLatencies(_ result: Scenario.Result) -> [Duration] {
        result.steps.compactMap { step -> Duration? in
            guard let ready = step.readyAt else { return nil }
            return result.samples.filter { $0.servedBy == step.version }.map(\.finished).min().map { $0 - ready }
        }.sorted()
    }

    /// "502 ×3, connection closed ×1": failures grouped by kind, without request ids.
    static func byKind(_ failures: [String]) -> String {
        var counts: [String: Int] = [:]
        for failure in failures { counts[kind(of: failure), default: 0] += 1 }
        return counts.isEmpty
            ? "–" : counts.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
    }

    static func kind(of failure: String) -> String {
        let words = failure.split(separator: " ")
        if words.count == 3, words[1] == "answered" { return "HTTP \(words[2])" }
        if failure.contains("executed") { return "POST run twice" }
        if failure.hasPrefix("socket error") {
            let lower = failure.lowercased()
            if lower.contains("refused") { return "connection refused" }
            if lower.contains("reset") { return "connection reset" }
            if lower.contains("timed out") || lower.contains("timeout") { return "timeout" }
            if lower.contains("closed") || lower.contains("eof") { return "connection closed" }
            return String(failure.prefix(60))
        }
        return failure
    }

    static func ms(_ duration: Duration?) -> String {
        guard let duration else { return "–" }
        return String(
            format: "%.1f",
            Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        )
    }
}
