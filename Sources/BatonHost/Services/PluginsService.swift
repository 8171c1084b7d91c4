import BatonPlugins
import ServiceLifecycle

/// The plugins, run from the moment the socket listens. On shutdown, a host that takes its
/// sandboxes down with it first has the schedulers stop them, while the socket still takes
/// their reports; then the plugins stop.
struct PluginsService: Service {
    let supervisor: PluginSupervisor
    let socketListening: Milestone
    let beforeStopping: @Sendable () async -> Void

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [supervisor, socketListening] in
                await socketListening.reached()
                await supervisor.run()
            }
            try? await gracefulShutdown()
            await beforeStopping()
            group.cancelAll()
        }
    }
}
