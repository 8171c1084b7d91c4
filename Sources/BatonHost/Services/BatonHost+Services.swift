import BatonCore
import BatonIngress
import ServiceLifecycle

/// Listening sockets a previous host handed over, by the part that listens on each.
struct InheritedListeners {
    var rpc: Int32?
    var http: Int32?
    var https: Int32?
    var metrics: Int32?
}

extension BatonHost {
    /// The host's parts in start order, for a `ServiceGroup`, which shuts them down in
    /// reverse: the handover server, the plugins (after the sandboxes, when the host takes
    /// them down with it), the metrics endpoint, the socket, the launcher, the state, the
    /// ingress (which lets requests in flight finish after a handover), drain timing, and the
    /// handover's last word.
    /// Call `prepare()` first.
    public var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        let handover = self.handover
        let logger = self.logger
        var parts: [any Service] = [
            // First to start, so last to stop: after a handover, once requests in flight are done.
            HostPart(
                name: "handover end",
                stop: { if handover.handedOver { logger.info("handed over; requests in flight are done") } }
            ),
            HostPart(
                name: "drain timing",
                serve: { [drainTimes, launcher] in await drainTimes.run(following: launcher.events) }
            ),
        ]
        if let certificates {
            let interval = Duration.milliseconds(certificateCheckMs)
            parts.append(HostPart(name: "certificates", serve: { await certificates.watch(every: interval) }))
        }
        if let acme {
            parts.append(HostPart(name: "acme", serve: { await acme.run() }))
        }
        if let ingress {
            let inherited = inherited.withLockedValue {
                IngressServer.InheritedListeners(http: $0.http, https: $0.https)
            }
            parts.append(
                HostPart(
                    name: "ingress",
                    reaching: ingressListening,
                    start: { try await ingress.start(inheriting: inherited) },
                    serve: { await ingress.maintainLeases() },
                    stop: {
                        if handover.handedOver {
                            await ingress.quiesce(deadline: handover.drain)
                        } else {
                            await ingress.stop()
                        }
                    }
                )
            )
        }
        parts += [
            HostPart(
                name: "state",
                stop: { [self] in
                    await releaseState()
                    handover.stateReleased.reach()
                    // The next host hears it before requests in flight end and the process exits.
                    if handover.handedOver { await handover.answered.reached() }
                }
            ),
            HostPart(
                name: "launcher",
                serve: { [launcher] in await launcher.followSignals() },
                stop: { [launcher] in await launcher.stop() }
            ),
        ]
        if let cluster {
            // Its launcher follows until the node leads; stopping leaves the cluster at once.
            parts.append(HostPart(name: "cluster", serve: { await cluster.run() }))
        }
        let rpcServer = self.rpcServer
        let rpcInherited = inherited.withLockedValue { $0.rpc }
        parts.append(
            HostPart(
                name: "rpc",
                reaching: rpcListening,
                start: { try await rpcServer.start(inheriting: rpcInherited) },
                stop: { await rpcServer.stop(removingSocket: !handover.handedOver) }
            )
        )
        if let metrics {
            let inherited = inherited.withLockedValue { $0.metrics }
            parts.append(
                HostPart(
                    name: "metrics",
                    reaching: metricsListening,
                    start: { try await metrics.start(logger: logger, inheriting: inherited) },
                    stop: { await metrics.stop() }
                )
            )
        }
        let launcher = self.launcher
        let stopsSandboxes = stopsSandboxesAtExit
        parts.append(
            PluginsService(
                supervisor: plugins,
                socketListening: rpcListening,
                beforeStopping: {
                    if stopsSandboxes && !handover.handedOver { await launcher.stopAllSandboxes(timeout: .seconds(30)) }
                }
            )
        )
        var configurations = parts.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        if let stateDirectory {
            // Its end, when the next host asks this one to step down, shuts the group down.
            configurations.append(
                ServiceGroupConfiguration.ServiceConfiguration(
                    service: HandoffService(
                        handover: handover,
                        path: handover.socketPath(in: stateDirectory),
                        listeners: { [self] in listenersToHand() },
                        logger: logger
                    ),
                    successTerminationBehavior: .gracefullyShutdownGroup
                )
            )
        }
        return configurations
    }
}
