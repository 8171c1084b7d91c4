import BatonContract
import BatonProtocol
import BatonRPC
import BatonTestSupport
import Foundation
import Subprocess
import Testing

/// The conformance kit against the plugins that must pass it, and against fixtures that
/// break one rule each, which must fail the case named for that rule: the kit can fail.
@Suite("Contract kit", .timeLimit(.minutes(3)))
struct ContractKitTests {
    static let schedulers: [[String]] = [
        [BatonProcess.builtExecutable("baton-process-scheduler")],
        ["python3", "-u", BatonProcess.repositoryPath("examples/python-scheduler/scheduler.py")],
    ]

    @Test(arguments: schedulers)
    func schedulersPassEveryCase(_ command: [String]) async throws {
        let run = try await BatonProcess.run(["contract", "scheduler", "--strict", "--"] + command)
        #expect(run.status == .exited(0), "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("10 cases: 10 passed, 0 failed"), "\(run.stdout)")
        // Sandboxes outlive their scheduler; the kit ends those of a case when the case ends.
        let left = CaseDirectory.taggedProcesses().filter { !FileManager.default.fileExists(atPath: $0.caseDirectory) }
        #expect(left.isEmpty, "processes left by finished cases: \(left)")
    }

    @Test func aNotificationThatBreaksItsSchemaFailsTheWaitForIt() async throws {
        let schemas = try SchemaValidator(directory: BatonProcess.repositoryPath("protocol/schemas"))
        let (notifications, host) = AsyncStream.makeStream(of: RPCNotification.self)
        let inbox = Inbox(notifications: notifications, schemas: schemas)
        host.yield(RPCNotification(method: "event", params: ["subscription": "events-1", "type": 5]))
        let failure = await #expect(throws: CaseFailure.self) { try await inbox.next(.event, within: 5) }
        #expect(failure?.description.contains("event notification breaks its schema") == true)
    }

    @Test func thePythonRouterPassesEveryCase() async throws {
        let run = try await BatonProcess.run([
            "contract", "router", "--strict", "--", "python3", "-u",
            BatonProcess.repositoryPath("examples/python-router/router.py"),
        ])
        #expect(run.status == .exited(0), "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("5 cases: 5 passed, 0 failed"))
    }

    @Test(arguments: [
        ("scheduler", "no-hello", "FAIL hello-comes-first [MUST §3 Sessions and roles]: no host.hello within 10.0 s"),
        (
            "scheduler", "no-sync",
            "FAIL sync-follows-subscribe [MUST §4 Scheduler role, scheduler.sync]: no scheduler.sync within 5.0 s"
        ),
        (
            "scheduler", "never-ready",
            "FAIL desired-leads-to-starting-then-ready [MUST §4 Scheduler role]: no scheduler.report within 10.0 s"
        ),
        (
            "scheduler", "ignores-scale-down",
            "FAIL scale-down-leads-to-stopped [MUST §4 Scheduler role]: no scheduler.report within 15.0 s"
        ),
        (
            "scheduler", "silent-death",
            "FAIL a-sandbox-that-dies-is-reported-failed-with-a-reason [MUST §5 What a scheduler MUST do]: no scheduler.report within 10.0 s"
        ),
        (
            "scheduler", "early-stopped",
            "FAIL scale-down-leads-to-stopped [MUST §4 Scheduler role]: p-kit-1-broken-1 was reported stopped while its process still ran"
        ),
        (
            "scheduler", "wrong-pool",
            "FAIL each-report-names-its-pool [MUST §5 What a scheduler MUST do]: a sandbox started for p-kit-2 was reported in pool p-kit-1"
        ),
        (
            "router", "never-releases",
            "FAIL revoked-leases-are-released [MUST §4 Router role]: no lease.release within 5.0 s"
        ),
        (
            "router", "ignores-revocation",
            "FAIL revocation-moves-traffic [MUST §4 Router role]: a request reaching b after the revocation did not happen within 3.0 s"
        ),
    ])
    func aBrokenPluginFailsTheCaseForTheRuleItBreaks(_ role: String, _ fault: String, _ failure: String) async throws {
        let fixture = BatonProcess.repositoryPath("protocol/fixtures/broken_\(role).py")
        let failingCase = String(failure.dropFirst("FAIL ".count).prefix { $0 != " " })
        let run = try await BatonProcess.run([
            "contract", role, "--run", "^\(failingCase)$", "--", "python3", "-u", fixture, "--fault", fault,
        ])
        #expect(run.status == .exited(1), "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains(failure), "\(run.stdout)")
        #expect(run.stdout.contains("lines exchanged"), "a failure shows the lines exchanged")
    }

    @Test func outcomesCanBeWrittenAsJUnit() async throws {
        let file = "/tmp/baton-contract-junit-\(getpid()).xml"
        defer { unlink(file) }
        let run = try await BatonProcess.run([
            "contract", "scheduler", "--run", "hello", "--junit", file, "--",
            BatonProcess.builtExecutable("baton-process-scheduler"),
        ])
        #expect(run.status == .exited(0))
        let xml = try String(contentsOfFile: file, encoding: .utf8)
        #expect(xml.contains(#"<testsuite name="scheduler" tests="1" failures="0""#))
        #expect(xml.contains(#"name="hello-comes-first""#))
    }

    @Test func theHostPassesEveryCaseAndAWrongTranscriptFails() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.file("baton.sock")
        let wrong = directory.file("wrong")
        try FileManager.default.createDirectory(atPath: wrong, withIntermediateDirectories: true)
        try """
        {"send": {"jsonrpc": "2.0", "id": 1, "method": "host.ping"}}
        {"expect": {"jsonrpc": "2.0", "id": 1, "result": {}}}
        """.write(toFile: wrong + "/ping-before-hello.jsonl", atomically: true, encoding: .utf8)
        let outcome = try await BatonProcess.serving(
            ["--socket", socket, "--state", directory.file("state"), "--set", "leases.ttlMs=3000"],
            plugins: true
        ) { execution, log in
            try await log.waitFor("rpc socket listening")
            let kit = try await BatonProcess.run([
                "contract", "host", "--socket", socket, "--transcripts",
                BatonProcess.repositoryPath("protocol/transcripts"),
                "--schemas", BatonProcess.repositoryPath("protocol/schemas"),
            ])
            #expect(kit.status == .exited(0), "\(kit.stdout)\(kit.stderr)")
            #expect(kit.stdout.contains("0 failed, 0 skipped"), "\(kit.stdout)")
            for rule in [
                "pipelined-reports-take-effect-in-order", "desired-seq-rises-by-one",
                "a-sandbox-never-has-more-slots-out-than-it-offers", "the-host-checks-a-sandbox-before-it-serves",
                "a-rollback-goes-through-the-gate",
            ] {
                #expect(kit.stdout.contains("PASS \(rule) ["), "\(rule) did not pass")
            }
            #expect(!kit.stdout.contains("note: no schemas"), "every result was checked against its schema")
            #expect(!kit.stdout.contains("FAIL"))
            let replay = try await Subprocess.run(
                .name("python3"),
                arguments: Arguments(
                    [BatonProcess.repositoryPath("scripts/replay-transcript"), socket]
                        + Transcripts.files(in: BatonProcess.repositoryPath("protocol/transcripts"))
                ),
                output: .string(limit: 1 << 16),
                error: .string(limit: 1 << 16)
            )
            #expect(
                replay.terminationStatus == .exited(0),
                "socat replay: \(replay.standardOutput)\(replay.standardError)"
            )
            let replayWrong = try await Subprocess.run(
                .name("python3"),
                arguments: Arguments(
                    [BatonProcess.repositoryPath("scripts/replay-transcript"), socket] + Transcripts.files(in: wrong)
                ),
                output: .string(limit: 1 << 16),
                error: .discarded
            )
            #expect(replayWrong.terminationStatus == .exited(1))
            #expect(replayWrong.standardOutput.contains("FAIL"))
            let failing = try await BatonProcess.run([
                "contract", "host", "--socket", socket, "--transcripts", wrong, "--run", "^transcript-",
            ])
            #expect(failing.status == .exited(1))
            #expect(failing.stdout.contains("FAIL transcript-ping-before-hello"), "\(failing.stdout)")
            #expect(failing.stdout.contains("-32002"), "the failure shows what the host answered")
            try execution.send(signal: .terminate)
            _ = try await log.rest()
            return true
        }
        #expect(outcome.status == .exited(0))
    }
}

enum Transcripts {
    static func files(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".jsonl") }
            .sorted()
            .map { directory + "/" + $0 }
    }
}
