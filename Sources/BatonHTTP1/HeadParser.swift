import NIOCore

/// Reads one HTTP/1.1 head at a time from the front of a buffer that grows as bytes come
/// (RFC 9112 §2–§5). It remembers how far it looked, so bytes arriving one at a time cost no
/// more than bytes arriving at once. Rules, each with its `HTTP1Violation`:
/// - lines end in CRLF; a bare LF or bare CR is refused, not guessed at;
/// - empty lines before a request line are skipped (§2.2);
/// - a request line is `token SP target SP HTTP/1.x`, with exactly one space each, and a target
///   of visible ASCII; another HTTP version gets 505;
/// - a field line is `token ":" OWS value OWS`; whitespace before the colon, obs-fold, and any
///   control character but HTAB in a value are refused;
/// - the head, empty lines before it included, is at most `maxHeadBytes`, with at most
///   `maxFields` fields (431).
public struct HeadParser: Sendable {
    public let limits: HeadLimits
    /// Bytes of the current head looked at so far.
    private var scanned = 0
    private var lineStart = 0
    /// Where the head proper begins, after the empty lines skipped before a request line.
    private var headStart = 0

    public init(limits: HeadLimits = HeadLimits()) {
        self.limits = limits
    }

    public mutating func parseRequest(_ buffer: ByteBuffer) -> HeadParse<RequestHead> {
        parse(buffer, emptyFirstLine: .skipped, firstLine: Self.requestLine)
    }

    public mutating func parseResponse(_ buffer: ByteBuffer) -> HeadParse<ResponseHead> {
        parse(buffer, emptyFirstLine: .refused, firstLine: Self.statusLine)
    }

    /// A head: its first line, read by `firstLine` (up to the CR that ends it), then its fields.
    private mutating func parse<Head>(
        _ buffer: ByteBuffer,
        emptyFirstLine: EmptyFirstLine,
        firstLine: (HeadFields, UnsafeRawBufferPointer, Int) throws(HTTP1Violation) -> Head
    ) -> HeadParse<Head> {
        let maxFields = limits.maxFields
        return parse(buffer, emptyFirstLine: emptyFirstLine) { fields, raw throws(HTTP1Violation) in
            let firstLineEnd = raw.firstIndex(of: ByteClass.cr)!
            let ranges = try Self.fields(raw, from: firstLineEnd + 2, limit: maxFields)
            return try firstLine(HeadFields(bytes: fields, ranges: ranges), raw, firstLineEnd)
        }
    }

    /// A trailer section (§7.1.2): field lines, then an empty line, which may come at once.
    public mutating func parseTrailers(_ buffer: ByteBuffer) -> HeadParse<HeadFields> {
        let maxFields = limits.maxFields
        return parse(buffer, emptyFirstLine: .endsTheSection) { fields, raw throws(HTTP1Violation) in
            HeadFields(bytes: fields, ranges: try Self.fields(raw, from: 0, limit: maxFields))
        }
    }

    /// What an empty line where a head would begin means.
    private enum EmptyFirstLine {
        /// Before a request line: ignored (§2.2).
        case skipped
        /// Before a status line: the response is malformed.
        case refused
        /// In a trailer section: there are no trailers.
        case endsTheSection
    }

    private mutating func parse<Head>(
        _ buffer: ByteBuffer,
        emptyFirstLine: EmptyFirstLine,
        read: (ByteBuffer, UnsafeRawBufferPointer) throws(HTTP1Violation) -> Head
    ) -> HeadParse<Head> {
        let found = buffer.withUnsafeReadableBytes { raw in findEnd(raw, emptyFirstLine: emptyFirstLine) }
        let end: Int
        switch found {
        case .failure(let violation): return .refused(violation)
        case .success(nil): return .incomplete
        case .success(let index?): end = index
        }
        let start = headStart
        scanned = 0
        lineStart = 0
        headStart = 0
        let bytes = buffer.getSlice(at: buffer.readerIndex + start, length: end - start)!
        do throws(HTTP1Violation) {
            let head = try bytes.withUnsafeReadableBytes { raw throws(HTTP1Violation) -> Head in
                try read(bytes, raw)
            }
            return .complete(head, consumed: end)
        } catch {
            return .refused(error)
        }
    }

    /// The index just past the head's empty line, nil while it has not come.
    private mutating func findEnd(
        _ raw: UnsafeRawBufferPointer,
        emptyFirstLine: EmptyFirstLine
    ) -> Result<Int?, HTTP1Violation> {
        var index = scanned
        defer { scanned = index }
        while index < raw.count {
            guard index < limits.maxHeadBytes else { return .failure(.headTooLarge) }
            let byte = raw[index]
            if byte == ByteClass.lf {
                guard index > 0, raw[index - 1] == ByteClass.cr else { return .failure(.bareLineFeed) }
                let emptyLine = index - lineStart == 1
                lineStart = index + 1
                if emptyLine {
                    index += 1
                    guard headStart == index - 2 else { return .success(index) }
                    switch emptyFirstLine {
                    case .skipped: headStart = index
                    case .refused: return .failure(.badStatusLine)
                    case .endsTheSection: return .success(index)
                    }
                    continue
                }
            } else if index > 0, raw[index - 1] == ByteClass.cr {
                return .failure(.bareCarriageReturn)
            }
            index += 1
        }
        return .success(nil)
    }

    /// The field lines from `start` to the head's empty line.
    private static func fields(
        _ raw: UnsafeRawBufferPointer,
        from start: Int,
        limit: Int
    ) throws(HTTP1Violation) -> [FieldRange] {
        var ranges: [FieldRange] = []
        var line = start
        while raw[line] != ByteClass.cr {
            guard ranges.count < limit else { throw .tooManyFields }
            if ByteClass.isWhitespace(raw[line]) { throw .obsoleteLineFolding }
            var cursor = line
            while ByteClass.isToken(raw[cursor]) { cursor += 1 }
            let nameLength = cursor - line
            guard raw[cursor] == ByteClass.colon else {
                throw nameLength > 0 && ByteClass.isWhitespace(raw[cursor]) ? .whitespaceBeforeColon : .badFieldName
            }
            guard nameLength > 0 else { throw .badFieldName }
            cursor += 1
            while ByteClass.isWhitespace(raw[cursor]) { cursor += 1 }
            let valueStart = cursor
            var valueEnd = cursor
            while raw[cursor] != ByteClass.cr {
                let byte = raw[cursor]
                guard ByteClass.isFieldContent(byte) else { throw .badFieldValue }
                cursor += 1
                if !ByteClass.isWhitespace(byte) { valueEnd = cursor }
            }
            ranges.append(
                FieldRange(
                    nameStart: UInt32(line),
                    nameLength: UInt32(nameLength),
                    valueStart: UInt32(valueStart),
                    valueLength: UInt32(valueEnd - valueStart)
                )
            )
            line = cursor + 2
        }
        return ranges
    }

    private static func requestLine(
        _ fields: HeadFields,
        _ raw: UnsafeRawBufferPointer,
        _ end: Int
    ) throws(HTTP1Violation) -> RequestHead {
        var cursor = 0
        while cursor < end, ByteClass.isToken(raw[cursor]) { cursor += 1 }
        let methodLength = cursor
        guard methodLength > 0, cursor < end, raw[cursor] == ByteClass.space else { throw .badRequestLine }
        cursor += 1
        let targetStart = cursor
        while cursor < end, ByteClass.isTargetByte(raw[cursor]) { cursor += 1 }
        let targetLength = cursor - targetStart
        guard targetLength > 0, cursor < end, raw[cursor] == ByteClass.space else { throw .badRequestLine }
        let minor = try version(raw, at: cursor + 1, lineEnd: end, orElse: .badRequestLine)
        guard cursor + 1 + versionLength == end else { throw .badRequestLine }
        return RequestHead(
            fields: fields,
            methodLength: methodLength,
            targetStart: targetStart,
            targetLength: targetLength,
            minorVersion: minor
        )
    }

    private static func statusLine(
        _ fields: HeadFields,
        _ raw: UnsafeRawBufferPointer,
        _ end: Int
    ) throws(HTTP1Violation) -> ResponseHead {
        let minor = try version(raw, at: 0, lineEnd: end, orElse: .badStatusLine)
        var cursor = versionLength
        guard cursor + 4 <= end, raw[cursor] == ByteClass.space else { throw .badStatusLine }
        cursor += 1
        var status: UInt16 = 0
        for _ in 0..<3 {
            let digit = raw[cursor] &- UInt8(ascii: "0")
            guard digit < 10 else { throw .badStatusLine }
            status = status * 10 + UInt16(digit)
            cursor += 1
        }
        guard status >= 100 else { throw .badStatusLine }
        // The reason phrase may be empty, and a sandbox may leave out the space before it.
        if cursor < end {
            guard raw[cursor] == ByteClass.space else { throw .badStatusLine }
            cursor += 1
        }
        let reasonStart = cursor
        while cursor < end {
            guard ByteClass.isFieldContent(raw[cursor]) else { throw .badStatusLine }
            cursor += 1
        }
        return ResponseHead(
            fields: fields,
            minorVersion: minor,
            status: status,
            reasonStart: reasonStart,
            reasonLength: end - reasonStart
        )
    }

    /// "HTTP/1.1".count
    private static let versionLength = 8

    /// The minor version of `HTTP/1.x` at `start`: another well-formed version is 505.
    private static func version(
        _ raw: UnsafeRawBufferPointer,
        at start: Int,
        lineEnd: Int,
        orElse malformed: HTTP1Violation
    ) throws(HTTP1Violation) -> Int {
        guard start + versionLength <= lineEnd,
            raw[start..<start + 5].elementsEqual("HTTP/".utf8),
            raw[start + 6] == UInt8(ascii: "."),
            case let major = raw[start + 5] &- UInt8(ascii: "0"), major < 10,
            case let minor = raw[start + 7] &- UInt8(ascii: "0"), minor < 10
        else { throw malformed }
        guard major == 1, minor <= 1 else { throw .unsupportedVersion }
        return Int(minor)
    }
}
