import BatonJSON

/// The rules of `host.hello`, kept apart from the connection so they read in one place.
public enum RPCHandshake {
    public static let helloMethod = "host.hello"

    struct Accepted {
        var sessionID: String
        var role: RPCRole
        var client: RPCProgramInfo
        var version: ProtocolVersion
    }

    struct Refusal: Error {
        var error: RPCError
        /// A failed credential check ends the connection; other mistakes may be retried.
        var closesConnection = false
    }

    static func accept(
        params: JSON?,
        existing: RPCSession?,
        configuration: RPCServerConfiguration,
        peer: PeerCredentials
    ) -> Result<Accepted, Refusal> {
        if let existing {
            return .failure(
                Refusal(
                    error: RPCError(
                        code: RPCError.alreadyInitializedCode,
                        message: "Already initialized: this connection is session \(existing.id) as \(existing.role)"
                    )
                )
            )
        }
        do {
            guard case .object(let members)? = params else {
                throw RPCError.invalidParams("host.hello takes an object {protocol, role, client, token?}")
            }
            let named = RPCParams(members: members)
            let asked = try named.string("protocol")
            guard let version = ProtocolVersion(asked).flatMap(ProtocolVersion.current.agreed(with:)) else {
                throw RPCError(
                    code: RPCError.unsupportedProtocolCode,
                    message: "Unsupported protocol \"\(asked)\": this host speaks up to \(ProtocolVersion.current)",
                    data: ["supported": [.string(ProtocolVersion.current.description)]]
                )
            }
            let roleName = try named.string("role")
            guard let role = RPCRole(rawValue: roleName) else {
                let roles = RPCRole.allCases.map(\.rawValue).joined(separator: ", ")
                throw RPCError.invalidParams("unknown role \"\(roleName)\"; the roles are \(roles)")
            }
            let client = try named.object("client")
            let info = RPCProgramInfo(name: try client.string("name"), version: try client.string("version"))
            if let expected = configuration.roleTokens[role] {
                let token = try named.optionalString("token") ?? ""
                guard constantTimeEqual(token, expected) else {
                    return .failure(
                        Refusal(
                            error: .unauthorized(
                                "the \(role) role needs its token, and \(token.isEmpty ? "none was given" : "the one given is wrong")"
                            ),
                            closesConnection: true
                        )
                    )
                }
            }
            return .success(Accepted(sessionID: newSessionID(), role: role, client: info, version: version))
        } catch let error as RPCError {
            return .failure(Refusal(error: error))
        } catch {
            return .failure(Refusal(error: .internalError("\(error)")))
        }
    }

    static func result(for session: RPCSession, configuration: RPCServerConfiguration) -> JSON {
        var limits = JSONObject()
        for (name, value) in configuration.advertisedLimits { limits[name] = .int(Int64(value)) }
        return [
            "protocol": .string(session.version.description),
            "role": .string(session.role.rawValue),
            "session": .string(session.id),
            "host": ["name": .string(configuration.host.name), "version": .string(configuration.host.version)],
            "limits": .object(limits),
        ]
    }

    private static func newSessionID() -> String {
        let bits = UInt64.random(in: .min ... .max)
        let hex = String(bits, radix: 16)
        return "s-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Compares without an early exit, so timing does not reveal how much of a token matched.
    private static func constantTimeEqual(_ given: String, _ expected: String) -> Bool {
        let lhs = Array(given.utf8)
        let rhs = Array(expected.utf8)
        var difference = UInt8(lhs.count == rhs.count ? 0 : 1)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}
