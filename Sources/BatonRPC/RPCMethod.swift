import BatonJSON

/// One callable method: its name, the roles allowed to call it, and its body. A
/// `sync` body runs on the connection's event loop and must not block; an `async`
/// body runs as a task and counts toward the connection's in-flight limit.
public struct RPCMethod: Sendable {
    public typealias SyncBody = @Sendable (RPCCall) throws -> JSON
    public typealias AsyncBody = @Sendable (RPCCall) async throws -> JSON

    enum Body: Sendable {
        case sync(SyncBody)
        case async(AsyncBody)
    }

    public let name: String
    public let roles: Set<RPCRole>
    let body: Body

    public static func sync(_ name: String, roles: Set<RPCRole>, _ body: @escaping SyncBody) -> RPCMethod {
        RPCMethod(name: name, roles: roles, body: .sync(body))
    }

    public static func async(_ name: String, roles: Set<RPCRole>, _ body: @escaping AsyncBody) -> RPCMethod {
        RPCMethod(name: name, roles: roles, body: .async(body))
    }
}

/// What a method body gets: its params and the session that called it.
public struct RPCCall: Sendable {
    public let method: String
    public let params: JSON?
    public let session: RPCSession

    /// The params as named members; absent params read as an empty object.
    public func namedParams() throws(RPCError) -> RPCParams {
        switch params {
        case nil: return RPCParams(members: [:])
        case .object(let members)?: return RPCParams(members: members)
        case let other?: throw .invalidParams("\(method) takes named params (an object), not \(other.typeName)")
        }
    }
}

/// The set of methods a server answers, by name.
public struct RPCMethodTable: Sendable {
    private var methods: [String: RPCMethod] = [:]

    public init(_ methods: [RPCMethod] = []) {
        for method in methods { register(method) }
    }

    public mutating func register(_ method: RPCMethod) {
        precondition(methods[method.name] == nil, "method \(method.name) registered twice")
        methods[method.name] = method
    }

    subscript(name: String) -> RPCMethod? { methods[name] }

    /// Every method's name, for checking that each one is specified.
    public var names: [String] { methods.keys.sorted() }
}
