import BatonJSON
import FoundationEssentials

/// The JSON gateway's shapes: keys and values in base64, 64-bit numbers as decimal strings,
/// and fields at their zero value left out.
enum EtcdWire {
    static func base64(_ bytes: some Sequence<UInt8>) -> JSON {
        .string(Data(bytes).base64EncodedString())
    }

    static func base64(_ text: String) -> JSON {
        base64(Array(text.utf8))
    }

    /// The smallest key after every key that starts with `prefix`, as etcd's `range_end` wants it.
    static func prefixEnd(_ prefix: String) -> [UInt8] {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0]  // every key
    }

    static func keys(_ keys: EtcdKeys, into object: inout JSONObject) {
        switch keys {
        case .key(let key):
            object["key"] = base64(key)
        case .prefix(let prefix):
            object["key"] = base64(prefix)
            object["range_end"] = base64(prefixEnd(prefix))
        }
    }

    static func number(_ value: Int64) -> JSON { .string(String(value)) }

    // MARK: Reading answers

    /// A 64-bit number as the gateway writes it: a string, or absent for zero.
    static func int64(_ json: JSON?) throws(EtcdError) -> Int64 {
        switch json {
        case nil: return 0
        case .string(let text)?:
            guard let value = Int64(text) else { throw .malformed("\(text) is not a 64-bit number") }
            return value
        case .int(let value)?: return value
        case let other?: throw .malformed("\(other.typeName) where a number belongs")
        }
    }

    static func bytes(_ json: JSON?) throws(EtcdError) -> [UInt8] {
        guard let json else { return [] }
        guard let text = json.stringValue, let data = Data(base64Encoded: text) else {
            throw .malformed("a key or value that is not base64")
        }
        return Array(data)
    }

    static func keyValue(_ json: JSON) throws(EtcdError) -> EtcdKeyValue {
        let key = try bytes(json["key"])
        guard let name = String(validating: key, as: UTF8.self) else { throw .malformed("a key that is not UTF-8") }
        let lease = try int64(json["lease"])
        return EtcdKeyValue(
            key: name,
            value: try bytes(json["value"]),
            createRevision: try int64(json["create_revision"]),
            modRevision: try int64(json["mod_revision"]),
            lease: lease == 0 ? nil : EtcdLeaseID(lease)
        )
    }

    static func revision(_ answer: JSON) throws(EtcdError) -> Int64 {
        try int64(answer["header"]?["revision"])
    }

    static func range(_ answer: JSON) throws(EtcdError) -> EtcdRange {
        var kvs: [EtcdKeyValue] = []
        for kv in answer["kvs"]?.arrayValue ?? [] { kvs.append(try keyValue(kv)) }
        return EtcdRange(revision: try revision(answer), kvs: kvs)
    }

    /// A gateway error body: `{"error": ..., "code": N, "message": ...}`.
    static func failure(_ answer: JSON) -> EtcdError? {
        guard let message = answer["message"]?.stringValue ?? answer["error"]?.stringValue else { return nil }
        let code = answer["code"]?.intValue ?? 0
        if code == EtcdError.outOfRange, message.contains("compacted") {
            return .compacted(revision: 0)
        }
        return .server(code: code, message: message)
    }
}
