import BatonJSON

/// One callable method: its name, the roles allowed to call it, and its body.
///
/// The calls of one session take effect in the order they were sent (PROTOCOL.md,
/// "Ordering"). A `sync` body runs on the connection's event loop; an `ordered` body runs
/// as a task, and the session's next call starts only once it has returned. A `waiting`
/// body applies its effect in order too, then hands back the rest of its work (waiting for
/// a slot, for the disk, for an HTTP answer), which runs beside the session's later calls.
/// Every call but a `sync` one answered at once counts toward `rpc.maxInFlight`.
public struct RPCMethod: Sendable {
    public typealias SyncBody = @Sendable (RPCCall) throws -> JSON
    public typealias OrderedBody = @Sendable (RPCCall) async throws -> JSON
    public typealias WaitingBody = @Sendable (RPCCall) async throws -> RPCRemainder

    enum Body: Sendable {
        case sync(SyncBody)
        case ordered(OrderedBody)
        case waiting(WaitingBody)
    }

    public let name: String
    public let roles: Set<RPCRole>
    let body: Body

    public static func sync(_ name: String, roles: Set<RPCRole>, _ body: @escaping SyncBody) -> RPCMethod {
        RPCMethod(name: name, roles: roles, body: .sync(body))
    }

    public static func ordered(_ name: String, roles: Set<RPCRole>, _ body: @escaping OrderedBody) -> RPCMethod {
        RPCMethod(name: name, roles: roles, body: .ordered(body))
    }

    public static func waiting(_ name: String, roles: Set<RPCRole>, _ body: @escaping WaitingBody) -> RPCMethod {
        RPCMethod(name: name, roles: roles, body: .waiting(body))
    }
}

/// What a `waiting` method still has to do once its effect is applied; its result is the
/// call's answer.
public struct RPCRemainder: Sendable {
    let run: @Sendable () async throws -> JSON

    public init(_ run: @escaping @Sendable () async throws -> JSON) {
        self.run = run
    }

    /// Nothing left to wait for: the answer is ready.
    public static func answer(_ value: JSON) -> RPCRemainder {
        RPCRemainder { value }
    }
}

/// What a method body gets: its params and the session that called it.
public struct RPCCall: Sendable {
    public let method: String
    public let params: JSON?
    public let session: RPCSession
    public let afterAnswer: RPCAfterAnswer

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
