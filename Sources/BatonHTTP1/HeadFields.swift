import NIOCore

/// A header field name to look up, kept lowercase for case-insensitive matching.
public struct FieldName: Sendable, Hashable, ExpressibleByStringLiteral {
    let lowercased: [UInt8]

    public init(stringLiteral name: String) {
        lowercased = Array(name.lowercased().utf8)
    }

    public static let host: FieldName = "host"
    public static let contentLength: FieldName = "content-length"
    public static let transferEncoding: FieldName = "transfer-encoding"
    public static let connection: FieldName = "connection"
    public static let upgrade: FieldName = "upgrade"
    public static let expect: FieldName = "expect"
}

/// Where one field's name and value lie in the bytes of its head; the value without the
/// whitespace around it.
struct FieldRange: Sendable, Equatable {
    var nameStart: UInt32
    var nameLength: UInt32
    var valueStart: UInt32
    var valueLength: UInt32
}

/// The header fields of one head, read in place: offsets into the head's bytes, so parsing
/// makes no string per field. Names and values become strings only when asked for.
public struct HeadFields: Sendable {
    /// The whole head, from its first byte to its empty line.
    public let bytes: ByteBuffer
    let ranges: [FieldRange]

    public var count: Int { ranges.count }

    public func name(at index: Int) -> String { string(ranges[index].nameStart, ranges[index].nameLength) }
    public func value(at index: Int) -> String { string(ranges[index].valueStart, ranges[index].valueLength) }

    /// Whether field `index` is named `name`, in any case.
    public func field(_ index: Int, is name: FieldName) -> Bool {
        let range = ranges[index]
        guard Int(range.nameLength) == name.lowercased.count else { return false }
        return bytes.withUnsafeReadableBytes { raw in
            var offset = Int(range.nameStart)
            for expected in name.lowercased {
                guard ByteClass.lowercased(raw[offset]) == expected else { return false }
                offset += 1
            }
            return true
        }
    }

    /// Every value of `name`, in order.
    public func values(_ name: FieldName) -> [String] {
        ranges.indices.filter { field($0, is: name) }.map { value(at: $0) }
    }

    public func first(_ name: FieldName) -> String? {
        ranges.indices.first { field($0, is: name) }.map { value(at: $0) }
    }

    public func contains(_ name: FieldName) -> Bool {
        ranges.indices.contains { field($0, is: name) }
    }

    /// Whether the comma-separated list of any `name` field holds `element`, in any case; no
    /// string is made.
    public func listContains(_ name: FieldName, _ element: FieldName) -> Bool {
        ranges.indices.contains { index in
            guard field(index, is: name) else { return false }
            let range = ranges[index]
            return bytes.withUnsafeReadableBytes { raw in
                let value = raw[Int(range.valueStart)..<Int(range.valueStart + range.valueLength)]
                return value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).contains { item in
                    let trimmed = item.drop(while: ByteClass.isWhitespace).reversed().drop(
                        while: ByteClass.isWhitespace
                    )
                    return trimmed.count == element.lowercased.count
                        && zip(trimmed.reversed(), element.lowercased).allSatisfy { ByteClass.lowercased($0) == $1 }
                }
            }
        }
    }

    /// Whether field `index` is one the `Connection` field names as belonging to this hop
    /// (RFC 9110 §7.6.1); no string is made.
    public func isNamedByConnection(_ index: Int) -> Bool {
        let name = ranges[index]
        return ranges.indices.contains { connection in
            guard field(connection, is: .connection) else { return false }
            let range = ranges[connection]
            return bytes.withUnsafeReadableBytes { raw in
                let fieldName = raw[Int(name.nameStart)..<Int(name.nameStart + name.nameLength)]
                let value = raw[Int(range.valueStart)..<Int(range.valueStart + range.valueLength)]
                return value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).contains { item in
                    let trimmed = item.drop(while: ByteClass.isWhitespace).reversed().drop(
                        while: ByteClass.isWhitespace
                    )
                    return trimmed.count == fieldName.count
                        && zip(trimmed.reversed(), fieldName).allSatisfy {
                            ByteClass.lowercased($0) == ByteClass.lowercased($1)
                        }
                }
            }
        }
    }

    /// The elements of every `name` field's comma-separated list, trimmed and lowercased.
    public func listElements(_ name: FieldName) -> [String] {
        values(name).flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map {
            String($0.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
                .lowercased()
        }
    }

    /// The value bytes of field `index`, without a copy.
    public func valueBytes(at index: Int) -> ByteBuffer {
        bytes.getSlice(at: bytes.readerIndex + Int(ranges[index].valueStart), length: Int(ranges[index].valueLength))!
    }

    private func string(_ start: UInt32, _ length: UInt32) -> String {
        bytes.getString(at: bytes.readerIndex + Int(start), length: Int(length)) ?? ""
    }
}

extension HeadFields {
    /// Writes field `index` as `name: value` CRLF, its bytes as they came.
    public func writeLine(at index: Int, into buffer: inout ByteBuffer) {
        let range = ranges[index]
        bytes.withUnsafeReadableBytes { raw in
            buffer.writeBytes(
                UnsafeRawBufferPointer(rebasing: raw[Int(range.nameStart)..<Int(range.nameStart + range.nameLength)])
            )
            buffer.writeStaticString(": ")
            buffer.writeBytes(
                UnsafeRawBufferPointer(rebasing: raw[Int(range.valueStart)..<Int(range.valueStart + range.valueLength)])
            )
            buffer.writeStaticString("\r\n")
        }
    }
}
