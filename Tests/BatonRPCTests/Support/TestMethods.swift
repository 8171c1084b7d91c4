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
            guard let minuend = members["minuend"]?.intValue, let subtrahend = members["subtrahend"]?.intValue else { break }
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
    static let background = RPCMethod.async("test.async", roles: [.admin]) { call in
        let n = try call.namedParams().optionalInt("n") ?? 0
        await Task.yield()
        return .int(n)
    }

    /// Answers once `test.open` is called with the same key; holds a request in flight
    /// for exactly as long as a test wants.
    static let wait = RPCMethod.async("test.wait", roles: [.admin]) { call in
        let key = try call.namedParams().string("key")
        await Gates.shared.wait(key)
        return .string(key)
    }

    static let open = RPCMethod.async("test.open", roles: [.admin]) { call in
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

    /// Only schedulers may call it.
    static let schedulerOnly = RPCMethod.sync("test.schedulerOnly", roles: [.scheduler]) { _ in true }

    static let ping = RPCMethod.sync("host.ping", roles: Set(RPCRole.allCases)) { _ in .object([:]) }

    static let failing = RPCMethod.async("test.fail", roles: [.admin]) { _ in
        struct Broken: Error {}
        throw Broken()
    }

    static var all: [RPCMethod] {
        [subtract, sum, update, notifyHello, notifySum, getData, background, wait, open, flood, schedulerOnly, ping, failing]
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
