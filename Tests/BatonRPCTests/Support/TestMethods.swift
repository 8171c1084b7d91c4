import BatonJSON
import BatonRPC
import NIOConcurrencyHelpers

/// Methods from the JSON-RPC 2.0 specification's examples, plus a few that let tests
/// hold a request open or make the host push.
enum TestMethods {
    static let subtract = RPCMethod.sync("subtract", roles: [.admin]) { call in
        switch call.params {
        case .array(let values)? where values.count == 2:
            guard let minuend = values[0].intValue, let subtrahend = values[1].intValue else { break }
            return .int(minuend - subtrahend)
        case .object(let members)?:
            guard let minuend = members["minuend"]?.intValue, let subtrahend = members["subtrahend"]?.intValue else {
                break
            }
            return .int(minuend - subtrahend)
        default:
            break
        }
        throw RPCError.invalidParams("subtract takes two integers")
    }

    static let sum = RPCMethod.sync("sum", roles: [.admin]) { call in
        let values = call.params?.arrayValue ?? []
        return .int(values.compactMap(\.intValue).reduce(0, +))
    }

    static let update = RPCMethod.sync("update", roles: [.admin]) { _ in .null }
    static let notifyHello = RPCMethod.sync("notify_hello", roles: [.admin]) { _ in .null }
    static let notifySum = RPCMethod.sync("notify_sum", roles: [.admin]) { _ in .null }
    static let getData = RPCMethod.sync("get_data", roles: [.admin]) { _ in ["hello", 5] }

    /// Answers from a task rather than on the event loop, so it counts as in flight;
    /// echoes `n`.
    static let background = RPCMethod.ordered("test.async", roles: [.admin]) { call in
        let n = try call.namedParams().optionalInt("n") ?? 0
        await Task.yield()
        return .int(n)
    }

    /// Answers once `test.open` is called with the same key; holds a request in flight
    /// for exactly as long as a test wants.
    static let wait = RPCMethod.waiting("test.wait", roles: [.admin]) { call in
        let key = try call.namedParams().string("key")
        return RPCRemainder {
            await Gates.shared.wait(key)
            return .string(key)
        }
    }

    static let open = RPCMethod.ordered("test.open", roles: [.admin]) { call in
        await Gates.shared.open(try call.namedParams().string("key"))
        return true
    }

    /// Pushes `count` notifications of `size` bytes to the caller.
    static let flood = RPCMethod.sync("test.flood", roles: [.admin]) { call in
        let params = try call.namedParams()
        let count = Int(try params.optionalInt("count") ?? 1)
        let payload = JSON.string(String(repeating: "x", count: Int(try params.optionalInt("size") ?? 16)))
        for index in 0..<count {
            call.session.notify("test.flooded", ["index": .int(Int64(index)), "payload": payload])
        }
        return .int(Int64(count))
    }

    /// Pushes `test.tick` once its own answer is out, as a subscription does.
    static let subscribe = RPCMethod.sync("test.subscribe", roles: [.admin]) { call in
        let session = call.session
        call.afterAnswer.add { session.notify("test.tick", ["subscription": "t-1"]) }
        return ["subscription": "t-1"]
    }

    /// Only schedulers may call it.
    static let schedulerOnly = RPCMethod.sync("test.schedulerOnly", roles: [.scheduler]) { _ in true }

    static let ping = RPCMethod.sync("host.ping", roles: Set(RPCRole.allCases)) { _ in .object([:]) }

    static let failing = RPCMethod.ordered("test.fail", roles: [.admin]) { _ in
        struct Broken: Error {}
        throw Broken()
    }

    /// Appends `n` to the journal `key` after a few yields, so calls that were not kept in
    /// order would overtake each other.
    static let append = RPCMethod.ordered("test.append", roles: [.admin]) { call in
        let params = try call.namedParams()
        let n = try params.int("n")
        for _ in 0..<Int.random(in: 0...3) { await Task.yield() }
        await Journal.shared.append(n, to: try params.string("key"))
        return .null
    }

    static let journal = RPCMethod.ordered("test.journal", roles: [.admin]) { call in
        .array(await Journal.shared.entries(try call.namedParams().string("key")).map { .int($0) })
    }

    /// Counts itself in flight under `key` until the gate `key` opens.
    static let hold = RPCMethod.waiting("test.hold", roles: [.admin]) { call in
        let key = try call.namedParams().string("key")
        await Journal.shared.enter(key)
        return RPCRemainder {
            await Gates.shared.wait(key)
            await Journal.shared.leave(key)
            return .null
        }
    }

    /// Answers once `atLeast` calls are held under `key`, with the most ever held at once.
    static let held = RPCMethod.waiting("test.held", roles: [.admin]) { call in
        let params = try call.namedParams()
        let key = try params.string("key")
        let atLeast = try params.int("atLeast")
        return RPCRemainder { .int(Int64(await Journal.shared.mostHeld(key, once: Int(atLeast)))) }
    }

    static var all: [RPCMethod] {
        [
            subtract, sum, update, notifyHello, notifySum, getData, background, wait, open, flood, subscribe,
            schedulerOnly, ping,
            failing,
            append, journal, hold, held,
        ]
    }
}

/// What the ordering tests record: journals of appended numbers, and how many calls
/// were held at once.
actor Journal {
    static let shared = Journal()

    private var journals: [String: [Int64]] = [:]
    private var holding: [String: (now: Int, most: Int)] = [:]
    private var watchers: [(key: String, count: Int, continuation: CheckedContinuation<Void, Never>)] = []

    func append(_ n: Int64, to key: String) {
        journals[key, default: []].append(n)
    }

    func entries(_ key: String) -> [Int64] {
        journals[key] ?? []
    }

    func enter(_ key: String) {
        var count = holding[key] ?? (0, 0)
        count.now += 1
        count.most = max(count.most, count.now)
        holding[key] = count
        let ready = watchers.filter { $0.key == key && $0.count <= count.now }
        watchers.removeAll { $0.key == key && $0.count <= count.now }
        for watcher in ready { watcher.continuation.resume() }
    }

    func leave(_ key: String) {
        holding[key]?.now -= 1
    }

    func mostHeld(_ key: String, once count: Int) async -> Int {
        if (holding[key]?.now ?? 0) < count {
            await withCheckedContinuation { watchers.append((key, count, $0)) }
        }
        return holding[key]?.most ?? 0
    }
}

/// Named gates that requests wait on until a test opens them.
actor Gates {
    static let shared = Gates()

    private var opened: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    func wait(_ key: String) async {
        guard !opened.contains(key) else { return }
        await withCheckedContinuation { waiters[key, default: []].append($0) }
    }

    func open(_ key: String) {
        opened.insert(key)
        for waiter in waiters.removeValue(forKey: key) ?? [] { waiter.resume() }
    }
}
