import BatonCore
import BatonProtocol
import NIOConcurrencyHelpers

/// The sandboxes as they really are, whatever the host has heard of them: the probe
/// answers from here, as a real sandbox's port would.
final class SimulatedWorld: ReadinessProbe {
    private let answering = NIOLockedValueBox<Set<String>>([])

    func isReady(url: String, health: HealthCheck?) async -> Bool {
        answering.withLockedValue { $0.contains(url) }
    }

    func setAnswering(_ url: String, _ on: Bool) {
        answering.withLockedValue { if on { $0.insert(url) } else { $0.remove(url) } }
    }
}

/// What a consumer task collected from a stream, taken by the simulation between steps.
final class Inbox<Element: Sendable>: Sendable {
    private let items = NIOLockedValueBox<[Element]>([])

    func put(_ item: Element) {
        items.withLockedValue { $0.append(item) }
    }

    func take() -> [Element] {
        items.withLockedValue { items in
            defer { items = [] }
            return items
        }
    }
}

/// A scheduler as the simulation plays it: it runs what the host asks for, and its reports
/// travel through a queue the simulation may reorder, duplicate, delay or lose.
struct SimulatedScheduler {
    enum Phase: String {
        case starting, ready, stopped, dead
    }

    struct Sandbox {
        var id: SandboxID
        var pool: PoolID
        var url: String
        var phase: Phase
        var broken: Bool

        var live: Bool { phase == .starting || phase == .ready }
        /// "s12" → 12: sandboxes are numbered in the order they started.
        var number: Int { SimulatedScheduler.number(id) }
    }

    var desired: [PoolID: DesiredPool] = [:]
    var sandboxes: [SandboxID: Sandbox] = [:]
    var pending: [SandboxReport] = []
    var nextSandbox = 0

    /// Takes new desired counts. A pool that rises from 0 gets its live sandboxes reported
    /// again: the host took them as stopping, and a scheduler that keeps one says so.
    mutating func apply(_ pools: [DesiredPool]) {
        for pool in pools {
            let before = desired[pool.pool]?.desired
            desired[pool.pool] = pool
            guard before == 0, pool.desired > 0 else { continue }
            for sandbox in live(in: pool.pool) {
                pending.append(
                    SandboxReport(
                        sandbox: sandbox.id,
                        pool: sandbox.pool,
                        state: sandbox.phase == .ready ? .ready : .starting,
                        url: sandbox.phase == .ready ? sandbox.url : nil
                    )
                )
            }
        }
    }

    func live(in pool: PoolID) -> [Sandbox] {
        sandboxes.values.filter { $0.pool == pool && $0.live }.sorted { $0.id < $1.id }
    }

    /// What a reconnecting scheduler tells the host: every sandbox it still runs.
    var truth: [SandboxReport] {
        sandboxes.values.filter(\.live).sorted { $0.id < $1.id }.map { sandbox in
            SandboxReport(
                sandbox: sandbox.id,
                pool: sandbox.pool,
                state: sandbox.phase == .ready ? .ready : .starting,
                url: sandbox.phase == .ready ? sandbox.url : nil
            )
        }
    }

    /// "s12" → 12: sandboxes are numbered in the order they started.
    static func number(_ id: SandboxID) -> Int {
        Int(id.rawValue.dropFirst()) ?? 0
    }

    /// Forgets sandboxes that ended long ago, as a real scheduler's records do.
    mutating func prune() {
        let ended = sandboxes.values.filter { !$0.live }.map(\.id).sorted { Self.number($0) < Self.number($1) }
        for id in ended.dropLast(32) { sandboxes.removeValue(forKey: id) }
    }
}
