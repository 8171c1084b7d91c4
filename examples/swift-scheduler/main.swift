// A complete Baton scheduler on BatonClient: each sandbox is a local process run from its pool's spec.
import BatonClient
import BatonPlugins
import BatonProbe
import BatonProtocol
import Foundation
import Logging
import NIOPosix

actor Processes: SchedulerDelegate {
    let link = SchedulerLink.plugin(name: "swift-example", logger: Logger(label: "swift-example-scheduler"))
    let probe = NetworkReadinessProbe(group: MultiThreadedEventLoopGroup.singleton, timeout: .milliseconds(500))
    var pools: [String: PoolMessage] = [:]
    var running: [(id: SandboxID, pool: String, process: Task<Void, Never>)] = []  // the oldest first

    func apply(_ changed: [PoolMessage]) {
        for pool in changed {
            pools[pool.pool] = pool
            let mine = running.filter { $0.pool == pool.pool }
            for sandbox in mine.dropFirst(pool.desired) {  // the newest go first
                sandbox.process.cancel()  // SIGTERM to its process group, SIGKILL after its grace
                running.removeAll { $0.id == sandbox.id }
            }
            for _ in mine.count..<max(mine.count, pool.desired) { start(pool) }
        }
    }

    func start(_ pool: PoolMessage) {
        let (id, name, link, probe) = (SandboxID("\(pool.pool)-\(UUID())"), PoolID(pool.pool), link, probe)
        guard let spec = try? ProcessSpec(json: pool.spec), let port = try? FreePort.pick() else {
            return link.report(SandboxReport(sandbox: id, pool: name, state: .failed, reason: "the spec cannot run"))
        }
        let url = "http://127.0.0.1:\(port)"
        link.report(SandboxReport(sandbox: id, pool: name, state: .starting))
        let process = Task {  // held in `running`; cancelling it stops the process
            let readiness = Task {  // cancelled below, once the process ends
                try await probe.waitUntilReady(url: url, health: pool.health)
                link.report(SandboxReport(sandbox: id, pool: name, state: .ready, url: url))
            }
            let exit = try? await ChildProcess.run(ChildCommand(spec, port: port), output: .file("/dev/null"))
            readiness.cancel()
            let stopped = Task.isCancelled
            let reason = exit.map { "\($0)" } ?? (stopped ? "stopped on request" : "could not start \(spec.command)")
            link.report(SandboxReport(sandbox: id, pool: name, state: stopped ? .stopped : .failed, reason: reason))
            if !stopped { await self.replace(id, in: pool.pool) }
        }
        running.append((id, pool.pool, process))
    }

    func replace(_ id: SandboxID, in pool: String) async {
        running.removeAll { $0.id == id }
        try? await Task.sleep(for: .seconds(1))  // then another one in its place
        apply(pools[pool].map { [$0] } ?? [])
    }
}

let scheduler = Processes()
if case .refused = await scheduler.link.run(scheduler) { exit(1) }  // asking again cannot help
