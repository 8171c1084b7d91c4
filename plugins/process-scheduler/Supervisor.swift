import BatonClient
import BatonPlugins
import BatonProbe
import BatonProtocol
import Foundation
import Logging

/// Runs the desired sandboxes of every pool as local processes and reports what they do.
actor Supervisor: SchedulerDelegate {
    private struct Pool {
        var desired: DesiredPool
        var backoff = Backoff.crash
        /// No new start before this instant: a crash was just seen.
        var holdUntil: ContinuousClock.Instant?
        var specReported = false
    }

    private enum Phase {
        case starting, ready, stopping
    }

    private struct Sandbox {
        var id: String
        var pool: String
        var url: String
        var pid: Int32?
        var phase = Phase.starting
        /// The task that runs the process; nil for one adopted after a restart, which a
        /// watch task follows instead.
        var process: Task<Void, Never>?
        var readiness: Task<Void, Never>?
        var startTime: UInt64?
    }

    private var pools: [String: Pool] = [:]
    private var sandboxes: [String: Sandbox] = [:]
    private var started = 0
    /// `leaveRunning` ends supervising: nothing starts any more.
    private var mode = Mode.supervising
    private enum Mode {
        case supervising, leavingRunning
    }
    /// Owns the timers and watches; `run()` ends them.
    private let work = WorkGroup()
    private let runTag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    private let link: SchedulerLink
    private let probe: NetworkReadinessProbe
    private let logDirectory: String
    private let recordsPath: String
    private let logger: Logger

    init(link: SchedulerLink, probe: NetworkReadinessProbe, logDirectory: String, recordsPath: String, logger: Logger) {
        self.link = link
        self.probe = probe
        self.logDirectory = logDirectory
        self.recordsPath = recordsPath
        self.logger = logger
    }

    // MARK: Adoption

    /// Takes back the sandboxes a previous run of this scheduler left running: each one
    /// whose process is still the recorded one and still answers is reported ready again,
    /// so a scheduler restart restarts no sandbox. One that no longer answers is killed.
    func adoptRecorded() async {
        for record in SandboxRecord.load(from: recordsPath) where record.isAlive {
            if await probe.isReady(url: record.url, health: nil) {
                logger.info("adopted sandbox", metadata: ["sandbox": "\(record.sandbox)", "pid": "\(record.pid)"])
                sandboxes[record.sandbox] = Sandbox(
                    id: record.sandbox,
                    pool: record.pool,
                    url: record.url,
                    pid: record.pid,
                    phase: .ready,
                    startTime: record.startTime
                )
                watch(record)
                link.report(
                    SandboxReport(
                        sandbox: .init(record.sandbox),
                        pool: .init(record.pool),
                        state: .ready,
                        url: record.url
                    )
                )
            } else {
                logger.warning(
                    "killing a recorded sandbox that no longer answers",
                    metadata: ["sandbox": "\(record.sandbox)", "pid": "\(record.pid)"]
                )
                kill(-record.pid, SIGKILL)
            }
        }
        persist()
    }

    /// Follows an adopted process, which is not this scheduler's child: it polls, as
    /// there is no exit status to wait for.
    private func watch(_ record: SandboxRecord) {
        sandboxes[record.sandbox]?.process = nil
        work.start {
            while record.isAlive {
                do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
            }
            await self.exited(
                record.sandbox,
                reason: "exited (adopted after a scheduler restart, so its status is unknown)"
            )
        }
    }

    private func persist() {
        let records = sandboxes.values.compactMap { sandbox -> SandboxRecord? in
            guard let pid = sandbox.pid, let start = sandbox.startTime else { return nil }
            return SandboxRecord(sandbox: sandbox.id, pool: sandbox.pool, pid: pid, url: sandbox.url, startTime: start)
        }.sorted { $0.sandbox < $1.sandbox }
        do {
            try SandboxRecord.save(records, to: recordsPath)
        } catch {
            logger.error("cannot record sandboxes", metadata: ["file": "\(recordsPath)", "error": "\(error)"])
        }
    }

    /// Takes in the pools the host changed.
    func apply(_ messages: [PoolMessage]) {
        for message in messages {
            let pool = DesiredPool(message)
            if pools[pool.id] == nil {
                pools[pool.id] = Pool(desired: pool)
            } else {
                pools[pool.id]?.desired = pool
            }
        }
        for id in pools.keys { reconcile(id) }
    }

    /// Adopted sandboxes of pools the host no longer has stop.
    func snapshotNamed(_ named: Set<String>) {
        for sandbox in sandboxes.values where !named.contains(sandbox.pool) && pools[sandbox.pool] == nil {
            stop(sandbox.id)
        }
    }

    private func reconcile(_ poolID: String) {
        guard mode == .supervising, let pool = pools[poolID] else { return }
        let live = sandboxes.values.filter { $0.pool == poolID && $0.phase != .stopping }
        if live.count > pool.desired.desired {
            // Not-yet-ready ones go first, then the newest.
            let extra = live.sorted { ($0.phase == .ready ? 1 : 0, $1.id) < ($1.phase == .ready ? 1 : 0, $0.id) }
                .prefix(
                    live.count - pool.desired.desired
                )
            for sandbox in extra { stop(sandbox.id) }
            return
        }
        guard live.count < pool.desired.desired else { return }
        if let until = pool.holdUntil, ContinuousClock.now < until { return }
        switch pool.desired.command {
        case .failure(let problem):
            guard !pool.specReported else { return }
            pools[poolID]?.specReported = true
            logger.error("pool cannot run", metadata: ["pool": "\(poolID)", "reason": "\(problem)"])
            link.report(
                SandboxReport(
                    sandbox: .init("\(poolID)-spec"),
                    pool: .init(poolID),
                    state: .failed,
                    reason: "\(problem)"
                )
            )
        case .success(let command):
            for _ in live.count..<pool.desired.desired { launch(pool.desired, command) }
        }
    }

    private func launch(_ pool: DesiredPool, _ command: ChildCommand) {
        started += 1
        let id = "\(pool.id)-\(runTag)-\(started)"
        let port: Int
        do {
            port = try FreePort.pick()
        } catch {
            return sandboxEnded(id, pool: pool.id, reason: "no free port: \(error)", stopping: false)
        }
        var command = command
        command.environment["PORT"] = "\(port)"
        let url = "http://127.0.0.1:\(port)"
        let log = "\(logDirectory)/\(id).log"
        logger.info(
            "starting sandbox",
            metadata: ["sandbox": "\(id)", "pool": "\(pool.id)", "port": "\(port)", "log": "\(log)"]
        )
        link.report(SandboxReport(sandbox: .init(id), pool: .init(pool.id), state: .starting, url: url))
        // Held by the sandbox's record: `stop` cancels it, which ends the process.
        let process = Task {
            let reason: String
            do {
                reason =
                    "\(try await ChildProcess.run(command, output: .file(log)) { pid in await self.spawned(id, pid: pid) })"
            } catch is CancellationError {
                reason = "stopped"
            } catch {
                reason = "could not start \(command.command): \(error)"
            }
            self.exited(id, reason: reason)
        }
        sandboxes[id] = Sandbox(id: id, pool: pool.id, url: url, process: process)
    }

    private func spawned(_ id: String, pid: Int32) {
        guard let sandbox = sandboxes[id], let pool = pools[sandbox.pool] else { return }
        sandboxes[id]?.pid = pid
        sandboxes[id]?.startTime = ProcessStart.time(of: pid)
        persist()
        let probe = probe
        let health = pool.desired.health
        let url = sandbox.url
        // Held by the sandbox's record and cancelled once it stops or ends.
        sandboxes[id]?.readiness = Task {
            // Until the process answers, or ends (which cancels this).
            do { try await probe.waitUntilReady(url: url, health: health) } catch { return }
            self.becameReady(id)
        }
    }

    private func becameReady(_ id: String) {
        guard let sandbox = sandboxes[id], sandbox.phase == .starting else { return }
        sandboxes[id]?.phase = .ready
        pools[sandbox.pool]?.backoff.succeeded()
        logger.info("sandbox ready", metadata: ["sandbox": "\(id)", "url": "\(sandbox.url)"])
        link.report(SandboxReport(sandbox: .init(id), pool: .init(sandbox.pool), state: .ready, url: sandbox.url))
    }

    private func exited(_ id: String, reason: String) {
        guard let sandbox = sandboxes.removeValue(forKey: id) else { return }
        persist()
        sandbox.readiness?.cancel()
        sandboxEnded(id, pool: sandbox.pool, reason: reason, stopping: sandbox.phase == .stopping)
    }

    private func sandboxEnded(_ id: String, pool poolID: String, reason: String, stopping: Bool) {
        if stopping {
            logger.info("sandbox stopped", metadata: ["sandbox": "\(id)", "how": "\(reason)"])
            link.report(
                SandboxReport(
                    sandbox: .init(id),
                    pool: .init(poolID),
                    state: .stopped,
                    reason: "stopped on request (\(reason))"
                )
            )
            return reconcile(poolID)
        }
        guard var pool = pools[poolID] else { return }
        let wait = pool.backoff.failed()
        pool.holdUntil = .now + wait
        pools[poolID] = pool
        var why = reason
        if pool.backoff.failuresInRow >= 3 {
            why += "; crash loop: \(pool.backoff.failuresInRow) failures in a row, next start in \(wait)"
        }
        logger.warning("sandbox failed", metadata: ["sandbox": "\(id)", "pool": "\(poolID)", "reason": "\(why)"])
        link.report(SandboxReport(sandbox: .init(id), pool: .init(poolID), state: .failed, reason: why))
        work.start {
            do { try await Task.sleep(for: wait) } catch { return }
            await self.retry(poolID)
        }
    }

    private func retry(_ poolID: String) {
        pools[poolID]?.holdUntil = nil
        reconcile(poolID)
    }

    /// SIGTERM, then SIGKILL after the spec's grace; `stopped` is reported when it is gone.
    private func stop(_ id: String) {
        guard let sandbox = sandboxes[id], sandbox.phase != .stopping else { return }
        logger.info(
            "stopping sandbox",
            metadata: ["sandbox": "\(id)", "pid": "\(sandbox.pid.map(String.init) ?? "-")"]
        )
        sandboxes[id]?.phase = .stopping
        sandbox.readiness?.cancel()
        if let process = sandbox.process {
            process.cancel()
        } else if let pid = sandbox.pid {
            // Adopted: signal its process group ourselves, SIGKILL after the grace.
            kill(-pid, SIGTERM)
            let grace = pools[sandbox.pool].flatMap { try? $0.desired.command.get().grace } ?? .seconds(10)
            let start = sandbox.startTime
            work.start {
                do { try await Task.sleep(for: grace) } catch { return }
                if ProcessStart.time(of: pid) == start { kill(-pid, SIGKILL) }
            }
        }
    }

    /// For the scheduler's exit: nothing starts any more, and the sandboxes keep running, on
    /// record for the next run to adopt, so a restart of the host or of this scheduler
    /// restarts no sandbox. A host that means to take its sandboxes down scales their pools
    /// to 0 first.
    func leaveRunning() -> Int {
        mode = .leavingRunning
        persist()
        return sandboxes.values.filter { $0.phase != .stopping }.count
    }

    /// Runs the timers and watches until cancelled.
    func run() async {
        await work.run()
    }
}
