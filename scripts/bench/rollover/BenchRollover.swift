// Rollovers under steady load through Baton, nginx (upstream switched by reload) and HAProxy
// (server switched through its runtime API), all in front of the same examples/hello
// backends; the peers in the careful and the naive order, Baton also unprotected (readiness
// gate, drain, retries and holding off). Prints Markdown tables for BENCHMARKS.md.
// Run through scripts/bench-rollover, which builds it and installs nginx and HAProxy.

import ArgumentParser
@preconcurrency import Foundation
@preconcurrency import Glibc

@main
struct BenchRollover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "baton-bench-rollover")

    @Option(help: "The baton executable.")
    var baton: String
    @Option(help: "Rollovers per target.")
    var rollovers = 50
    @Option(help: "Targets, comma-separated: baton, unprotected, nginx, haproxy.")
    var targets = "baton,unprotected,nginx,haproxy"
    @Option(help: "The hello app's directory.")
    var appDirectory = "examples/hello"
    @Option(help: "How long the careful order lets the old backend drain after the switch, in ms.")
    var drainMs = 1000
    @Option(help: "Pause between rollovers, in ms (outside the rollover windows).")
    var pauseMs = 500
    @Option(help: "How long a never-ready version is waited for, in ms.")
    var neverReadyMs = 5000
    @Flag(
        inversion: .prefixedNo,
        help: "Also measure faults through Baton: kill -9 of a sandbox and of the scheduler, SIGSTOP of a sandbox."
    )
    var faults = true
    @Option(help: "Load workers sending GET / in a loop.")
    var getWorkers = 6
    @Option(help: "Load workers sending POST /echo.")
    var postWorkers = 2
    @Option(help: "Load workers sending PUT of 10 KiB.")
    var putWorkers = 2
    @Option(help: "Pause between one worker's requests, in ms.")
    var workerPauseMs = 2

    func run() async throws {
        setvbuf(stdout, nil, _IOLBF, 0)
        let work = NSTemporaryDirectory() + "baton-bench-rollover-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let app = URL(fileURLWithPath: appDirectory).standardizedFileURL.path
        let shape = Scenario.LoadShape(
            getWorkers: getWorkers,
            postWorkers: postWorkers,
            putWorkers: putWorkers,
            pause: .milliseconds(workerPauseMs)
        )
        var results: [Scenario.Result] = []
        for name in targets.split(separator: ",").map(String.init) {
            for (label, order, target) in try makeTargets(name, app: app, work: "\(work)/\(name)") {
                print("\(label) \(order): \(rollovers) rollovers under load")
                let scenario = Scenario(
                    name: label,
                    order: order,
                    target: target,
                    rollovers: rollovers,
                    pauseBetween: .milliseconds(pauseMs),
                    load: shape
                )
                results.append(await scenario.run { print($0) })
            }
        }
        var faultOutcomes: [Faults.Outcome] = []
        if faults {
            print("Baton: faults under load")
            let target = try BatonTarget(
                executable: baton,
                appDirectory: app,
                workDirectory: "\(work)/faults",
                settings: Faults.settings,
                neverReadyWait: .milliseconds(neverReadyMs)
            )
            faultOutcomes = await Faults(target: target, load: shape).run { print($0) }
        }
        if results.allSatisfy({ $0.abort == nil }) {
            try? FileManager.default.removeItem(atPath: work)
        } else {
            print("logs kept in \(work)")
        }
        print("")
        print(
            "Rollovers (\(rollovers) per target; load: \(getWorkers) GET, \(postWorkers) POST, \(putWorkers) PUT workers):"
        )
        for line in Report.rollovers(results) { print(line) }
        print("")
        print("A version that never becomes ready (waited for \(neverReadyMs) ms):")
        for line in Report.neverReady(results) { print(line) }
        if faults {
            print("")
            print(
                "Faults through Baton (load for 1 s before and 4 s after each; ingress.responseHeaderTimeoutMs 1000):"
            )
            for line in Report.faults(faultOutcomes) { print(line) }
        }
    }

    private func makeTargets(_ name: String, app: String, work: String) throws -> [(String, String, any RolloverTarget)]
    {
        let wait = Duration.milliseconds(neverReadyMs)
        switch name {
        case "baton", "unprotected":
            let unprotected = name == "unprotected"
            let target = try BatonTarget(
                executable: baton,
                appDirectory: app,
                workDirectory: work,
                settings: unprotected ? BatonTarget.unprotectedSettings : [:],
                neverReadyWait: wait
            )
            return [
                (
                    unprotected ? "Baton, unprotected" : "Baton", unprotected ? "gate, drain, retries off" : "deploy",
                    target
                )
            ]
        case "nginx", "haproxy":
            return try RolloverOrder.allCases.map { order in
                let directory = "\(work)/\(order)"
                let proxy: any TrafficSwitch =
                    name == "nginx" ? try NginxSwitch(directory: directory) : try HAProxySwitch(directory: directory)
                let target = PeerTarget(
                    proxy: proxy,
                    order: order,
                    appDirectory: app,
                    workDirectory: directory,
                    drain: .milliseconds(drainMs),
                    neverReadyWait: wait
                )
                return (proxy.name, order.rawValue, target)
            }
        default:
            throw ValidationError("unknown target \(name); known: baton, unprotected, nginx, haproxy")
        }
    }
}
