import CJansson

extension JSON {
    /// Writes this value through jansson as one compact line: a newline inside a string
    /// is escaped, so the output never contains a raw line break.
    public func serialized() throws(JSONEncodeError) -> [UInt8] {
        try withSerializedBytes { Array($0) }
    }

    public func serializedString() throws(JSONEncodeError) -> String {
        try withSerializedBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Serializes as `serialized()` does and lends the bytes to `body` without copying
    /// them into an array first; the bytes are valid only inside `body`.
    public func withSerializedBytes<Result>(
        _ body: (UnsafeRawBufferPointer) -> Result
    ) throws(JSONEncodeError)
        -> Result
    {
        let root = try makeNode()
        defer { json_decref(root) }
        let flags = Int(JSON_COMPACT | JSON_ENCODE_ANY)
        // Most messages fit the first buffer; a larger one is written again at its size.
        let needed: DumpOutcome<Result> = withUnsafeTemporaryAllocation(of: CChar.self, capacity: Self.firstBufferSize)
        {
            scratch in
            let size = json_dumpb(root, scratch.baseAddress, scratch.count, flags)
            guard size > 0 else { return .failed }
            return size <= scratch.count
                ? .written(body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(scratch)[..<size])))
                : .needs(size)
        }
        switch needed {
        case .failed:
            throw .encoderFailed("jansson could not write the document")
        case .written(let result):
            return result
        case .needs(let size):
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let written = json_dumpb(root, buffer.baseAddress, size, flags)
            guard written == size else { throw .encoderFailed("jansson wrote \(written) of \(size) bytes") }
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    private static let firstBufferSize = 4096

    private enum DumpOutcome<Result> {
        case written(Result)
        case needs(Int)
        case failed
    }

    /// Builds a jansson tree that the caller owns (one reference).
    private func makeNode() throws(JSONEncodeError) -> UnsafeMutablePointer<json_t> {
        let node: UnsafeMutablePointer<json_t>?
        switch self {
        case .null:
            node = json_null()
        case .bool(let value):
            node = cjansson_boolean(value ? 1 : 0)
        case .int(let value):
            node = json_integer(value)
        case .real(let value):
            guard value.isFinite else { throw .nonFiniteReal(value) }
            node = json_real(value)
        case .string(let value):
            node = Self.makeString(value)
        case .array(let elements):
            guard let array = json_array() else { throw .encoderFailed("out of memory for an array") }
            for element in elements {
                let child: UnsafeMutablePointer<json_t>
                do { child = try element.makeNode() } catch {
                    json_decref(array)
                    throw error
                }
                guard json_array_append_new(array, child) == 0 else {
                    json_decref(array)
                    throw .encoderFailed("could not append to an array")
                }
            }
            node = array
        case .object(let members):
            guard let object = json_object() else { throw .encoderFailed("out of memory for an object") }
            for (key, value) in members {
                let child: UnsafeMutablePointer<json_t>
                do { child = try value.makeNode() } catch {
                    json_decref(object)
                    throw error
                }
                var stored = false
                var key = key
                key.withUTF8 { utf8 in
                    withUnsafePointer(to: CChar(0)) { empty in
                        let base = utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
                        // setn_new steals `child` even when it fails.
                        stored = json_object_setn_new_nocheck(object, base ?? empty, utf8.count, child) == 0
                    }
                }
                guard stored else {
                    json_decref(object)
                    throw .encoderFailed("could not set key \(key)")
                }
            }
            node = object
        }
        guard let node else { throw .encoderFailed("jansson refused a \(typeName)") }
        return node
    }

    /// Strings are passed with their length, so an embedded NUL survives; an empty
    /// Swift string may have no base address, which jansson would refuse.
    private static func makeString(_ value: String) -> UnsafeMutablePointer<json_t>? {
        var value = value
        return value.withUTF8 { utf8 in
            withUnsafePointer(to: CChar(0)) { empty in
                let base = utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
                return json_stringn_nocheck(base ?? empty, utf8.count)
            }
        }
    }
}
