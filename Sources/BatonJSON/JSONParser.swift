import CJansson

/// What a parse accepts beyond a single JSON object or array.
public struct JSONParseOptions: Sendable, Hashable {
    /// Accept a bare scalar (`42`, `"x"`, `null`) as the whole document.
    public var allowScalarRoot: Bool
    /// Deepest nesting of arrays and objects accepted; deeper input is an error.
    public var maxDepth: Int

    public static let defaultMaxDepth = 128

    public init(allowScalarRoot: Bool = false, maxDepth: Int = JSONParseOptions.defaultMaxDepth) {
        self.allowScalarRoot = allowScalarRoot
        self.maxDepth = maxDepth
    }
}

extension JSON {
    /// Parses one JSON document from `bytes` through jansson. Duplicate keys, invalid
    /// UTF-8, integers outside 64 bits, trailing garbage and nesting deeper than
    /// `options.maxDepth` are rejected with the position of the problem.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        options: JSONParseOptions = .init()
    )
        throws(JSONParseError) -> JSON
    {
        try checkDepth(bytes, limit: options.maxDepth)
        var flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL
        if options.allowScalarRoot { flags |= JSON_DECODE_ANY }
        var error = json_error_t()
        let root: UnsafeMutablePointer<json_t>? = withUnsafePointer(to: CChar(0)) { empty in
            let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self) ?? empty
            return json_loadb(base, bytes.count, Int(flags), &error)
        }
        guard let root else {
            throw JSONParseError(
                text: errorText(&error),
                line: Int(error.line),
                column: Int(error.column),
                position: Int(error.position)
            )
        }
        defer { json_decref(root) }
        return JSON(borrowing: root)
    }

    public static func parse(
        _ bytes: some Sequence<UInt8>,
        options: JSONParseOptions = .init()
    )
        throws(JSONParseError) -> JSON
    {
        let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) -> JSON in
                try parse(UnsafeRawBufferPointer(buffer), options: options)
            }
        }
        if let contiguous { return try contiguous.get() }
        let copy = Array(bytes)
        let result = copy.withUnsafeBytes { buffer in
            Result { () throws(JSONParseError) -> JSON in try parse(buffer, options: options) }
        }
        return try result.get()
    }

    public static func parse(
        _ text: String,
        options: JSONParseOptions = .init()
    )
        throws(JSONParseError) -> JSON
    {
        try parse(Array(text.utf8), options: options)
    }

    /// Converts a jansson tree into a Swift value; `node` stays owned by the caller.
    private init(borrowing node: UnsafeMutablePointer<json_t>) {
        switch cjansson_typeof(node) {
        case JSON_OBJECT:
            // Keys are unique: jansson rejects duplicates.
            var members = JSONObject(minimumCapacity: json_object_size(node))
            var iterator = json_object_iter(node)
            while let current = iterator {
                let key = String(
                    decoding: UnsafeRawBufferPointer(
                        start: json_object_iter_key(current),
                        count: json_object_iter_key_len(current)
                    ),
                    as: UTF8.self
                )
                members.appendNew(key, JSON(borrowing: json_object_iter_value(current)))
                iterator = json_object_iter_next(node, current)
            }
            self = .object(members)
        case JSON_ARRAY:
            let count = json_array_size(node)
            var elements: [JSON] = []
            elements.reserveCapacity(count)
            for index in 0..<count {
                elements.append(JSON(borrowing: json_array_get(node, index)))
            }
            self = .array(elements)
        case JSON_STRING:
            self = .string(
                String(
                    decoding: UnsafeRawBufferPointer(start: json_string_value(node), count: json_string_length(node)),
                    as: UTF8.self
                )
            )
        case JSON_INTEGER:
            self = .int(json_integer_value(node))
        case JSON_REAL:
            self = .real(json_real_value(node))
        case JSON_TRUE:
            self = .bool(true)
        case JSON_FALSE:
            self = .bool(false)
        default:
            self = .null
        }
    }

    private static func errorText(_ error: inout json_error_t) -> String {
        withUnsafeBytes(of: &error.text) { raw in
            let length = raw.firstIndex(of: 0) ?? raw.count
            return String(decoding: UnsafeRawBufferPointer(rebasing: raw[..<length]), as: UTF8.self)
        }
    }

    /// Rejects nesting deeper than `limit` before jansson recurses into it, naming the
    /// exact place where the limit was crossed.
    private static func checkDepth(_ bytes: UnsafeRawBufferPointer, limit: Int) throws(JSONParseError) {
        var depth = 0
        var inString = false
        var escaped = false
        var line = 1
        var column = 0
        for (offset, byte) in bytes.enumerated() {
            if byte & 0xC0 != 0x80 { column += 1 }  // count characters, as jansson does
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit {
                    throw JSONParseError(
                        text: "nesting deeper than \(limit) levels",
                        line: line,
                        column: column,
                        position: offset + 1
                    )
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
            case UInt8(ascii: "\n"):
                line += 1
                column = 0
            default:
                break
            }
        }
    }
}
