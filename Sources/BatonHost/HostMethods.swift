import BatonJSON
import BatonRPC

/// The methods every session may call, whatever its role.
enum HostMethods {
    static let ping = RPCMethod.sync(.hostPing) { _ in
        .object([:])
    }

    static var all: [RPCMethod] { [ping] }
}
