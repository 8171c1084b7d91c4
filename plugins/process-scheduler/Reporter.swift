import BatonProtocol
import BatonRPC
import Logging

/// Sends sandbox reports to the host in the order they were made. It keeps the latest
/// report of every live sandbox, so that a new connection starts with `scheduler.sync`
/// of exactly what runs, including what changed while the host was away.
final class Reporter: Sendable {
    private enum Event: Sendable {
        case report(SandboxReport)
        case attach(RPCClient)
        case detach
    }

    private let events: AsyncStream<Event>
    private let input: AsyncStream<Event>.Continuation

    init() {
        (events, input) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
    }

    func report(_ report: SandboxReport) {
        input.yield(.report(report))
    }

    /// From now on reports go to `client`, after one `scheduler.sync`.
    func attach(_ client: RPCClient) {
        input.yield(.attach(client))
    }

    func detach() {
        input.yield(.detach)
    }

    func finish() {
        input.finish()
    }

    /// Delivers reports until `finish()`.
    func run(logger: Logger) async {
        var latest: [SandboxID: SandboxReport] = [:]
        var order: [SandboxID] = []
        var client: RPCClient?
        for await event in events {
            switch event {
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
}
