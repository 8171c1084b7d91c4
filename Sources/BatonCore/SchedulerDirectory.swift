/// The schedulers connected to the host and what each was told. A pool goes to the
/// scheduler its service names; otherwise to the configured default; otherwise, when
/// exactly one scheduler is connected, to that one.
struct SchedulerDirectory {
    struct Subscription {
        var name: String
        var seq = 0
        var continuation: AsyncStream<DesiredUpdate>.Continuation
    }

    var configuredDefault: String?
    private(set) var subscriptions: [Int: Subscription] = [:]
    private var nextID = 0

    init(configuredDefault: String?) {
        self.configuredDefault = configuredDefault
    }

    var connectedNames: Set<String> { Set(subscriptions.values.map(\.name)) }

    /// The scheduler that runs `spec`'s pools, whether or not it is connected.
    func owner(of spec: ServiceSpec) -> String? {
        if let named = spec.scheduler { return named }
        if let configuredDefault { return configuredDefault }
        let names = connectedNames
        return names.count == 1 ? names.first : nil
    }

    /// Why a pool is not being run, or nil when its scheduler is connected.
    func waitingReason(for spec: ServiceSpec) -> String? {
        guard let owner = owner(of: spec) else {
            return connectedNames.isEmpty
                ? "no scheduler is connected"
                : "several schedulers are connected and none is the default; name one in the service"
        }
        return connectedNames.contains(owner) ? nil : "scheduler \"\(owner)\" is not connected"
    }

    mutating func add(name: String, continuation: AsyncStream<DesiredUpdate>.Continuation) -> Int {
        nextID += 1
        subscriptions[nextID] = Subscription(name: name, continuation: continuation)
        return nextID
    }

    mutating func remove(_ id: Int) {
        subscriptions.removeValue(forKey: id)?.continuation.finish()
    }

    /// Sends `pools` to every subscription of the scheduler that owns them.
    mutating func publish(_ pools: [DesiredPool]) {
        for id in subscriptions.keys.sorted() {
            guard let subscription = subscriptions[id] else { continue }
            let owned = pools.filter { owner(of: $0.spec) == subscription.name }
            guard !owned.isEmpty else { continue }
            subscriptions[id]?.seq += 1
            subscription.continuation.yield(DesiredUpdate(seq: subscription.seq + 1, pools: owned))
        }
    }
}
