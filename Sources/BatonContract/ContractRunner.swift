import Foundation

/// Runs the selected cases in order and says, one line each, how they went.
public struct ContractRunner {
    public struct Outcome: Sendable {
        public enum Verdict: String, Sendable {
            case pass = "PASS"
            case fail = "FAIL"
            case skip = "SKIP"
        }

        public var name: String
        public var section: String
        public var requirement: Requirement
        public var verdict: Verdict
        public var detail: String
        public var seconds: Double
    }

    public var run: Regex<AnyRegexOutput>?
    public var skip: Regex<AnyRegexOutput>?
    public var strict = false
    public var say: @Sendable (String) -> Void

    public init(run: String?, skip: String?, strict: Bool, say: @escaping @Sendable (String) -> Void) throws {
        self.run = try run.map { try Regex($0) }
        self.skip = try skip.map { try Regex($0) }
        self.strict = strict
        self.say = say
    }

    /// `prepare` gives each case a fresh context (a new mock host, a new plugin process),
    /// and `finish` tears it down, whatever the outcome.
    public func runAll<Context>(
        _ cases: [ContractCase<Context>],
        prepare: () async throws -> Context,
        transcript: (Context) async -> [String],
        finish: (Context) async -> Void
    ) async -> [Outcome] {
        var outcomes: [Outcome] = []
        for contractCase in cases {
            let name = contractCase.name
            if let run, (try? run.firstMatch(in: name)) == nil { continue }
            if let skip, (try? skip.firstMatch(in: name)) != nil {
                outcomes.append(report(contractCase, .skip, "skipped by --skip", 0))
                continue
            }
            let started = ContinuousClock.now
            var verdict = Outcome.Verdict.pass
            var detail = ""
            var context: Context?
            do {
                let prepared = try await prepare()
                context = prepared
                try await contractCase.run(prepared)
            } catch let skip as CaseSkip {
                verdict = .skip
                detail = skip.description
            } catch {
                verdict = .fail
                detail = "\(error)"
                if let context, case let lines = await transcript(context), !lines.isEmpty {
                    detail +=
                        "\n    lines exchanged (last 20):\n"
                        + lines.suffix(20).map { "      \($0)" }.joined(separator: "\n")
                }
            }
            if let context { await finish(context) }
            let elapsed = ContinuousClock.now - started
            outcomes.append(
                report(
                    contractCase,
                    verdict,
                    detail,
                    Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                )
            )
        }
        let failed = outcomes.filter { $0.verdict == .fail }
        say(
            "\(outcomes.count) cases: \(outcomes.filter { $0.verdict == .pass }.count) passed, \(failed.count) failed, \(outcomes.filter { $0.verdict == .skip }.count) skipped"
        )
        return outcomes
    }

    private func report<Context>(
        _ contractCase: ContractCase<Context>,
        _ verdict: Outcome.Verdict,
        _ detail: String,
        _ seconds: Double
    ) -> Outcome {
        let tag = "[\(contractCase.requirement.rawValue) \(contractCase.section)]"
        say("\(verdict.rawValue) \(contractCase.name) \(tag)\(detail.isEmpty ? "" : ": \(detail)")")
        return Outcome(
            name: contractCase.name,
            section: contractCase.section,
            requirement: contractCase.requirement,
            verdict: verdict,
            detail: detail,
            seconds: seconds
        )
    }

    /// Whether the run failed: a MUST case failed, or with `strict` any case.
    public func failed(_ outcomes: [Outcome]) -> Bool {
        outcomes.contains { $0.verdict == .fail && ($0.requirement == .must || strict) }
    }

    /// The outcomes as JUnit XML, for CI systems.
    public static func junit(_ outcomes: [Outcome], suite: String) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml +=
            "<testsuite name=\"\(escape(suite))\" tests=\"\(outcomes.count)\" failures=\"\(outcomes.filter { $0.verdict == .fail }.count)\""
        xml += " skipped=\"\(outcomes.filter { $0.verdict == .skip }.count)\">\n"
        for outcome in outcomes {
            xml +=
                "  <testcase classname=\"\(escape(suite)).\(escape(outcome.requirement.rawValue))\" name=\"\(escape(outcome.name))\""
            xml += " time=\"\(String(format: "%.3f", outcome.seconds))\">"
            switch outcome.verdict {
            case .pass: break
            case .fail: xml += "<failure message=\"\(escape(outcome.section))\">\(escape(outcome.detail))</failure>"
            case .skip: xml += "<skipped message=\"\(escape(outcome.detail))\"/>"
            }
            xml += "</testcase>\n"
        }
        return xml + "</testsuite>\n"
    }
}
