import BatonRPC
import NIOCore

/// A restart without a gap: this host hands its listening sockets to the next one
/// (`baton serve --take-over` on the same state directory) and steps down.
extension BatonHost {
    func listenersToHand() -> [HandedListener] {
        var handed: [HandedListener] = []
        let socketPath = rpcServer.configuration.socketPath
        if let address = try? SocketAddress(unixDomainSocketPath: socketPath),
            let descriptor = ListenerDescriptors.find(boundTo: address)
        {
            handed.append(HandedListener(name: "rpc", address: socketPath, descriptor: descriptor))
        }
        if let address = ingress?.localAddress, let configured = handover.ingressAddress,
            let descriptor = ListenerDescriptors.find(boundTo: address)
        {
            handed.append(HandedListener(name: "http", address: configured, descriptor: descriptor))
        }
        if let address = ingress?.httpsLocalAddress, let configured = handover.httpsAddress,
            let descriptor = ListenerDescriptors.find(boundTo: address)
        {
            handed.append(HandedListener(name: "https", address: configured, descriptor: descriptor))
        }
        if let address = metrics?.localAddress, let configured = handover.metricsAddress,
            let descriptor = ListenerDescriptors.find(boundTo: address)
        {
            handed.append(HandedListener(name: "metrics", address: configured, descriptor: descriptor))
        }
        return handed
    }
}
