import BatonJSON
import BatonRPC
import Logging

/// Sends sandbox reports to the host in the order they were made. It keeps the latest
/// report of every live sandbox, so that a new connection starts with `scheduler.sync`
/// of exactly what runs, including what changed while the host was away.
final class Reporter: Sendable {
    private enum Event: Sendable {
        case report(JSON)
        case attach(RPCClient)
        case detach
    }

    private let events: AsyncStream<Event>
    private let input: AsyncStream<Event>.Continuation

    init() {
        (events, input) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
    }

    /// `report` is a `scheduler.report` params object.
    func report(_ report: JSON) {
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
        var latest: [String: JSON] = [:]
        var order: [String] = []
        var client: RPCClient?
        for await event in events {
            switch event {
            case .report(let report):
                guard let sandbox = report["sandbox"]?.stringValue else { continue }
                let state = report["state"]?.stringValue
                if state == "stopped" || state == "failed" {
                    latest[sandbox] = nil
                    order.removeAll { $0 == sandbox }
                } else {
                    if latest[sandbox] == nil { order.append(sandbox) }
                    latest[sandbox] = report
                }
                do {
                    _ = try await client?.call("scheduler.report", report)
                } catch {
                    logger.warning("report not delivered", metadata: ["sandbox": "\(sandbox)", "error": "\(error)"])
                }
            case .attach(let attached):
                client = attached
                let sandboxes = order.compactMap { latest[$0] }
                do {
                    _ = try await attached.call("scheduler.sync", ["sandboxes": .array(sandboxes)])
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
