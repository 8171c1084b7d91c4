import BatonJSON
import BatonRPC

/// The methods every session may call, whatever its role.
enum HostMethods {
    static let ping = RPCMethod.sync(.hostPing) { _ in
        .object([:])
    }

    /// Ends one of the session's subscriptions; repeating it, or naming none, is fine.
    static let unsubscribe = RPCMethod.ordered(.hostUnsubscribe) { call in
        Subscriptions.unsubscribe(try call.namedParams().string("subscription"), on: call.session)
        return .object([:])
    }

    static var all: [RPCMethod] { [ping, unsubscribe] }
}
