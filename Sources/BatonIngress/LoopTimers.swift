import NIOCore

/// Coarse timeouts for one event loop. Arming a NIO timer per request costs a timerfd
/// syscall each time it is set and cancelled; request timeouts are seconds long, so one
/// sweep every `resolution` checks them all instead.
final class LoopTimers {
    struct Token: Hashable {
        fileprivate var id: Int
    }

    static let resolution: TimeAmount = .milliseconds(25)

    private let eventLoop: any EventLoop
    private var timers: [Int: (deadline: NIODeadline, action: () -> Void)] = [:]
    private var nextID = 0
    private var sweeping = false

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Runs `action` on this loop once `timeout` has passed, give or take `resolution`.
    func schedule(in timeout: TimeAmount, _ action: @escaping () -> Void) -> Token {
        nextID += 1
        timers[nextID] = (.now() + timeout, action)
        if !sweeping {
            sweeping = true
            scheduleSweep()
        }
        return Token(id: nextID)
    }

    func cancel(_ token: Token?) {
        guard let token else { return }
        timers.removeValue(forKey: token.id)
    }

    private func scheduleSweep() {
        eventLoop.assumeIsolated().scheduleTask(in: Self.resolution) { [self] in sweep() }
    }

    /// Fires what is due; keeps sweeping while anything is armed.
    private func sweep() {
        let now = NIODeadline.now()
        let due = timers.filter { $0.value.deadline <= now }
        for id in due.keys.sorted() {
            timers.removeValue(forKey: id)?.action()
        }
        if timers.isEmpty {
            sweeping = false
        } else {
            scheduleSweep()
        }
    }
}
