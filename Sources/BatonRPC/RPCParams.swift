import BatonJSON

/// Named params with typed accessors whose failures are `-32602` errors that name
/// the member and what was expected.
public struct RPCParams: Sendable {
    public let members: JSONObject

    public init(members: JSONObject) {
        self.members = members
    }

    public func string(_ key: String) throws(RPCError) -> String {
        guard let value = try optionalString(key) else { throw .invalidParams("missing string member \"\(key)\"") }
        return value
    }

    public func optionalString(_ key: String) throws(RPCError) -> String? {
        guard let value = members[key], value != .null else { return nil }
        guard let string = value.stringValue else {
            throw .invalidParams("member \"\(key)\" must be a string, not \(value.typeName)")
        }
        return string
    }

    public func optionalBool(_ key: String) throws(RPCError) -> Bool? {
        guard let value = members[key], value != .null else { return nil }
        guard let bool = value.boolValue else {
            throw .invalidParams("member \"\(key)\" must be true or false, not \(value.typeName)")
        }
        return bool
    }

    public func object(_ key: String) throws(RPCError) -> RPCParams {
        guard let value = members[key] else { throw .invalidParams("missing object member \"\(key)\"") }
        guard let object = value.objectValue else {
            throw .invalidParams("member \"\(key)\" must be an object, not \(value.typeName)")
        }
        return RPCParams(members: object)
    }

    public func int(_ key: String, in range: ClosedRange<Int64> = .min ... .max) throws(RPCError) -> Int64 {
        guard let value = try optionalInt(key, in: range) else {
            throw .invalidParams("missing integer member \"\(key)\"")
        }
        return value
    }

    /// An integer member, refused unless it lies in `range`: every number a method takes
    /// has a range, checked before anything is applied or stored.
    public func optionalInt(_ key: String, in range: ClosedRange<Int64> = .min ... .max) throws(RPCError) -> Int64? {
        guard let value = members[key], value != .null else { return nil }
        guard let int = value.intValue else {
            throw .invalidParams("member \"\(key)\" must be an integer, not \(value.typeName)")
        }
        guard range.contains(int) else {
            throw .invalidParams(
                "member \"\(key)\" must be from \(range.lowerBound) to \(range.upperBound), not \(int)"
            )
        }
        return int
    }

    public func optionalStringArray(_ key: String) throws(RPCError) -> [String]? {
        guard let value = members[key], value != .null else { return nil }
        guard let list = value.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
            throw .invalidParams("member \"\(key)\" must be an array of strings, not \(value.typeName)")
        }
        return list.compactMap(\.stringValue)
    }
}
