/// A host that takes its sandboxes down with it (the demo, tests): the schedulers are told to
/// run nothing, and the host waits for their `stopped` reports before it stops them too.
extension Launcher {
    /// Asks every scheduler to stop every sandbox and returns once none is left running, or
    /// after `timeout`. The store is not told: the next start runs the same pools again.
    public func stopAllSandboxes(timeout: Duration) async {
        let running = pools.values.filter { $0.desired > 0 }.sorted { $0.id < $1.id }
        guard !running.isEmpty else { return }
        let ids = Set(running.map(\.id))
        let ends = events.subscribe { $0.type == .sandboxStopped || $0.type == .sandboxFailed }
        schedulers.publish(running.map(stoppedPool))
        let broker = self.broker
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask {
                var waiting = ends.makeAsyncIterator()
                // Another node's sandboxes are its own to stop.
                while await broker.sandboxStatuses(pools: ids).contains(where: {
                    !$0.state.isTerminal && !SandboxReporter.isAnotherNode($0.reporter)
                }) {
                    guard await waiting.next() != nil else { return }
                }
            }
            await group.next()
            group.cancelAll()
        }
        logger.info("sandboxes stopped for the host's exit", metadata: ["pools": "\(running.count)"])
    }
}
