import BatonRPC
import NIOCore

/// A restart without a gap: this host hands its listening sockets to the next one
/// (`baton serve --take-over` on the same state directory) and steps down.
extension BatonHost {
    func startHandoff(in stateDirectory: String) throws {
        let handoff = try HandoffServer(
            path: handover.socketPath(in: stateDirectory), logger: logger, listeners: { [self] in listenersToHand() },
            stepDown: { [self] in await stepDown() }, answered: { [handover] in handover.answered() })
        handover.serve(with: handoff)
    }

    private func listenersToHand() -> [HandedListener] {
        var handed: [HandedListener] = []
        let socketPath = rpcServer.configuration.socketPath
        if let address = try? SocketAddress(unixDomainSocketPath: socketPath), let descriptor = ListenerDescriptors.find(boundTo: address) {
            handed.append(HandedListener(name: "rpc", address: socketPath, descriptor: descriptor))
        }
        if let address = ingress?.localAddress, let configured = handover.ingressAddress, let descriptor = ListenerDescriptors.find(boundTo: address) {
            handed.append(HandedListener(name: "http", address: configured, descriptor: descriptor))
        }
        if let address = metrics?.localAddress, let configured = handover.metricsAddress, let descriptor = ListenerDescriptors.find(boundTo: address) {
            handed.append(HandedListener(name: "metrics", address: configured, descriptor: descriptor))
        }
        return handed
    }

    /// Stops accepting (the next host holds the same sockets), stops the plugins (their
    /// sandboxes keep running for the next host's scheduler), commits the state and lets go
    /// of the state directory; requests in flight then finish here, up to the drain time.
    private func stepDown() async {
        logger.info("handing over to the next host")
        handover.markHandedOver()
        let ingress = self.ingress
        let drain = handover.drain
        let draining = Task { await ingress?.quiesce(deadline: drain) }
        await metrics?.stop()
        await stopPlugins()
        await rpcServer.stop(removingSocket: false)
        await launcher.stop()
        handover.stopServing()
        await releaseState()
        let handover = self.handover
        let logger = self.logger
        Task {
            await draining.value
            logger.info("handed over; requests in flight are done")
            handover.finishDraining()
        }
    }
}
