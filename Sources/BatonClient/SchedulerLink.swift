import BatonJSON
import BatonProtocol
import BatonRPC
import Logging

/// What a scheduler built on `SchedulerLink` does with the host's desired state.
public protocol SchedulerDelegate: Sendable {
    /// The host changed these pools, each given in full: run `desired` sandboxes of each. A
    /// pool whose message did not change is not given again; one a new subscription's
    /// snapshot leaves out comes at desired 0.
    func apply(_ pools: [PoolMessage]) async
    /// A new subscription named exactly these pools: what runs for any other pool (a sandbox
    /// adopted after a restart, for one the host forgot) has no reason to run.
    func snapshotNamed(_ pools: Set<String>) async
}

extension SchedulerDelegate {
    public func snapshotNamed(_ pools: Set<String>) async {}
}

/// A scheduler's session with the host, kept whole as PROTOCOL.md asks: hello, then on every
/// connection `scheduler.subscribe` and a `scheduler.sync` of the latest report of every live
/// sandbox; reports in the order they were made; a new subscription on a `seq` gap; and a
/// reconnect with `Backoff.reconnect` when the host goes away. Reports made while the host is
/// away are not queued: the next sync carries their latest state. A scheduler that adopts
/// sandboxes after a restart reports them before `run`, and the first sync has them.
public final class SchedulerLink: Sendable {
    private enum Delivery: Sendable {
        case report(SandboxReport)
        case attach(RPCClient)
        case detach
    }

    private let socket: String
    private let name: String
    private let token: String?
    private let logger: Logger
    private let deliveries: AsyncStream<Delivery>
    private let input: AsyncStream<Delivery>.Continuation

    public init(socket: String, name: String, token: String?, logger: Logger) {
        self.socket = socket
        self.name = name
        self.token = token
        self.logger = logger
        (deliveries, input) = AsyncStream.makeStream(of: Delivery.self, bufferingPolicy: .unbounded)
    }

    /// A link for a scheduler plugin, from what its host gives it (PROTOCOL.md §5, Plugins):
    /// the socket (`BATON_SOCKET`, else the default rule), its name (`BATON_SCHEDULER_NAME`,
    /// else `name`) and the role's token (`BATON_TOKEN`).
    public static func plugin(
        name: String,
        logger: Logger,
        environment: [String: String] = SocketLocation.currentEnvironment()
    ) -> SchedulerLink {
        func value(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        return SchedulerLink(
            socket: SocketLocation.defaultPath(environment: environment),
            name: value("BATON_SCHEDULER_NAME") ?? name,
            token: value("BATON_TOKEN"),
            logger: logger
        )
    }

    /// Reports a sandbox; from any task, in the order of the calls.
    public func report(_ report: SandboxReport) {
        input.yield(.report(report))
    }

    /// No report comes after this one: `run` returns once those made are delivered.
    public func finish() {
        input.finish()
    }

    /// How `run` ended.
    public enum Ending: Sendable {
        /// `finish()` was called and the reports made before it are delivered.
        case finished
        /// The host refused the hello for good (PROTOCOL.md §4, host.hello): the plugin should
        /// log it and exit with a non-zero status.
        case refused(RPCError)
    }

    /// Hello refusals that asking again cannot help.
    static let finalHelloErrors: Set<Int> = [-32001, -32004, -32602]

    /// Keeps the session and delivers reports until `finish()`, or until the host refuses
    /// the hello for good.
    public func run(_ delegate: some SchedulerDelegate) async -> Ending {
        await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                await self.deliver()
                return .finished
            }
            group.addTask { await self.follow(delegate) }
            // Delivery ends first, or a refusal: following the host never returns otherwise.
            let ending = await group.next() ?? nil
            group.cancelAll()
            return ending ?? .finished
        }
    }

    private func follow(_ delegate: some SchedulerDelegate) async -> Ending? {
        var backoff = Backoff.reconnect
        var known: [String: PoolMessage] = [:]
        while !Task.isCancelled {
            do {
                let session = try await BatonSession.open(socket: socket, role: .scheduler, name: name, token: token)
                backoff.succeeded()
                await serve(session.rpc, delegate, known: &known)
                await session.close()
            } catch let error as RPCError where Self.finalHelloErrors.contains(error.code) {
                logger.critical("the host refused this scheduler", metadata: ["error": "\(error)"])
                return .refused(error)
            } catch {
                logger.debug("host not reachable", metadata: ["socket": "\(socket)", "error": "\(error)"])
            }
            input.yield(.detach)
            try? await Task.sleep(for: backoff.failed())
        }
        return nil
    }

    private func serve(
        _ client: RPCClient,
        _ delegate: some SchedulerDelegate,
        known: inout [String: PoolMessage]
    )
        async
    {
        do {
            var subscription = try await subscribe(client, delegate, known: &known)
            logger.info("connected to the host", metadata: ["socket": "\(socket)"])
            for await notification in client.notifications {
                guard notification.is(.schedulerDesired), let params = notification.params,
                    params["subscription"]?.stringValue == subscription.id, let seq = params["seq"]?.intValue
                else { continue }
                guard seq == subscription.seq + 1 else {
                    logger.warning(
                        "desired state has a gap; subscribing again",
                        metadata: ["expected": "\(subscription.seq + 1)", "got": "\(seq)"]
                    )
                    subscription = try await subscribe(client, delegate, known: &known)
                    continue
                }
                subscription.seq = seq
                await take(Self.pools(params), snapshot: false, delegate, known: &known)
            }
            logger.warning("connection to the host closed")
        } catch {
            logger.warning("session with the host failed", metadata: ["error": "\(error)"])
        }
    }

    /// A new subscription: its snapshot is the whole truth, and the host hears what runs.
    private func subscribe(
        _ client: RPCClient,
        _ delegate: some SchedulerDelegate,
        known: inout [String: PoolMessage]
    )
        async throws -> (id: String, seq: Int64)
    {
        let snapshot = try await client.call(.schedulerSubscribe)
        input.yield(.attach(client))  // the sync goes before any later report
        let pools = Self.pools(snapshot)
        await take(pools, snapshot: true, delegate, known: &known)
        await delegate.snapshotNamed(Set(pools.map(\.pool)))
        return (snapshot["subscription"]?.stringValue ?? "", snapshot["seq"]?.intValue ?? 0)
    }

    /// Hands the delegate what changed.
    private func take(
        _ pools: [PoolMessage],
        snapshot: Bool,
        _ delegate: some SchedulerDelegate,
        known: inout [String: PoolMessage]
    ) async {
        var changed = pools.filter { known[$0.pool] != $0 }
        if snapshot {
            let named = Set(pools.map(\.pool))
            for pool in known.values.sorted(by: { $0.pool < $1.pool })
            where !named.contains(pool.pool) && pool.desired > 0 {
                var stopped = pool
                stopped.desired = 0
                changed.append(stopped)
            }
        }
        for pool in changed { known[pool.pool] = pool }
        if !changed.isEmpty { await delegate.apply(changed) }
    }

    /// Sends reports in the order they were made, and the sync that starts each connection.
    private func deliver() async {
        var latest: [SandboxID: SandboxReport] = [:]
        var order: [SandboxID] = []
        var client: RPCClient?
        for await delivery in deliveries {
            switch delivery {
            case .report(let report):
                let sandbox = report.sandbox
                if report.state.isFinal {
                    latest[sandbox] = nil
                    order.removeAll { $0 == sandbox }
                } else {
                    if latest[sandbox] == nil { order.append(sandbox) }
                    latest[sandbox] = report
                }
                do {
                    _ = try await client?.call(.schedulerReport, report.json)
                } catch {
                    logger.warning("report not delivered", metadata: ["sandbox": "\(sandbox)", "error": "\(error)"])
                }
            case .attach(let attached):
                client = attached
                let sandboxes = order.compactMap { latest[$0] }
                do {
                    _ = try await attached.call(.schedulerSync, SandboxReport.syncParams(sandboxes))
                    logger.info("synced", metadata: ["sandboxes": "\(sandboxes.count)"])
                } catch {
                    logger.warning("sync failed", metadata: ["error": "\(error)"])
                }
            case .detach:
                client = nil
            }
        }
    }

    private static func pools(_ params: JSON) -> [PoolMessage] {
        (params["pools"]?.arrayValue ?? []).compactMap(PoolMessage.init(json:))
    }
}
