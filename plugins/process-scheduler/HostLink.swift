import BatonJSON
import BatonPlugins
import BatonProtocol
import BatonRPC
import Logging

/// The scheduler's session with the host: hello, subscribe, sync, then desired state as
/// it changes. It re-subscribes on a gap in `seq` and reconnects when the host goes away.
struct HostLink {
    var socketPath: String
    var name: String
    var token: String?
    var supervisor: Supervisor
    var reporter: Reporter
    var logger: Logger

    func run() async {
        var backoff = Backoff(initial: .milliseconds(100), limit: .seconds(2))
        while !Task.isCancelled {
            do {
                let client = try await RPCClient.connect(socketPath: socketPath)
                backoff.succeeded()
                await serve(client)
                await client.close()
            } catch {
                logger.debug("host not reachable", metadata: ["socket": "\(socketPath)", "error": "\(error)"])
            }
            reporter.detach()
            try? await Task.sleep(for: backoff.failed())
        }
    }

    private func serve(_ client: RPCClient) async {
        do {
            try await client.hello(role: .scheduler, client: RPCProgramInfo(name: name, version: "0.1.0"), token: token)
            var subscription = try await subscribe(client)
            logger.info("connected to the host", metadata: ["socket": "\(socketPath)"])
            for await notification in client.notifications {
                guard notification.is(.schedulerDesired), let params = notification.params,
                    params["subscription"]?.stringValue == subscription.id, let seq = params["seq"]?.intValue
                else { continue }
                guard seq == subscription.seq + 1 else {
                    logger.warning(
                        "desired state has a gap; subscribing again",
                        metadata: ["expected": "\(subscription.seq + 1)", "got": "\(seq)"]
                    )
                    subscription = try await subscribe(client)
                    continue
                }
                subscription.seq = seq
                await supervisor.apply(Self.pools(params), complete: false)
            }
            logger.warning("connection to the host closed")
        } catch {
            logger.warning("session with the host failed", metadata: ["error": "\(error)"])
        }
    }

    /// A new subscription: the snapshot is the whole truth, and the host hears what runs.
    private func subscribe(_ client: RPCClient) async throws -> (id: String, seq: Int64) {
        let snapshot = try await client.call(.schedulerSubscribe)
        reporter.attach(client)
        await supervisor.apply(Self.pools(snapshot), complete: true)
        return (snapshot["subscription"]?.stringValue ?? "", snapshot["seq"]?.intValue ?? 0)
    }

    private static func pools(_ params: JSON) -> [DesiredPool] {
        (params["pools"]?.arrayValue ?? []).compactMap(DesiredPool.init)
    }
}
