import Logging
import ServiceLifecycle

/// The running host's end of a restart without a gap (see `HandoffServer`). It returns when
/// the next host asks this one to step down, and its group then shuts down as on any
/// graceful shutdown, with the handover flag set: the sockets stay open for the next host,
/// the sandboxes keep running, and requests in flight finish.
struct HandoffService: Service {
    let handover: HandoverState
    let path: String
    let listeners: @Sendable () -> [HandedListener]
    let logger: Logger

    func run() async throws {
        let handover = self.handover
        let server = try HandoffServer(
            path: path,
            logger: logger,
            listeners: listeners,
            stepDown: {
                handover.stepDown()
                await handover.stateReleased.reached()
            },
            answered: { handover.answered.reach() }
        )
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await handover.stepDownAsked.reached() }
            group.addTask { try? await gracefulShutdown() }
            await group.next()
            group.cancelAll()
        }
        if handover.handedOver { logger.info("handing over to the next host") }
        server.stop()
    }
}
