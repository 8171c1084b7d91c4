import NIOCore

/// Reads a chunked body (RFC 9112 §7.1) from the front of a buffer as it comes, handing out
/// each chunk's data as a slice of that buffer, without a copy. Chunk sizes past 2^63 - 1,
/// size lines longer than `maxChunkLineBytes`, control characters in extensions, and data
/// not followed by CRLF are refused; trailers are read as a head's fields are.
public struct ChunkedDecoder: Sendable {
    public enum Part: Sendable {
        case data(ByteBuffer)
        /// The last chunk and its trailer section, nil when it has no fields.
        case end(trailers: HeadFields?)
    }

    private enum State: Sendable {
        case size(value: UInt64, digits: Int, lineBytes: Int)
        /// After the size: `;` extensions until CR.
        case extensions(size: UInt64, sawSemicolon: Bool, lineBytes: Int)
        case sizeLineFeed(size: UInt64)
        case data(remaining: UInt64)
        case dataCarriageReturn
        case dataLineFeed
        case trailers
        case done
    }

    private var state = State.size(value: 0, digits: 0, lineBytes: 0)
    private var trailerParser: HeadParser
    private let limits: HeadLimits

    public init(limits: HeadLimits = HeadLimits()) {
        self.limits = limits
        trailerParser = HeadParser(limits: limits)
    }

    /// Whether the last chunk and its trailers have been read.
    public var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    /// The next part from the front of `buffer`, consuming what it read; nil when the bytes
    /// so far hold no whole part.
    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1Violation) -> Part? {
        while true {
            switch state {
            case .data(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let length = Int(min(remaining, UInt64(buffer.readableBytes)))
                let slice = buffer.readSlice(length: length)!
                state = remaining == UInt64(length) ? .dataCarriageReturn : .data(remaining: remaining - UInt64(length))
                return .data(slice)
            case .trailers:
                switch trailerParser.parseTrailers(buffer) {
                case .incomplete: return nil
                case .refused(.headTooLarge), .refused(.tooManyFields): throw .trailersTooLarge
                case .refused(let violation): throw violation
                case .complete(let fields, let consumed):
                    buffer.moveReaderIndex(forwardBy: consumed)
                    state = .done
                    return .end(trailers: fields.count == 0 ? nil : fields)
                }
            case .done:
                return nil
            default:
                guard let byte = buffer.readInteger(as: UInt8.self) else { return nil }
                try step(byte)
            }
        }
    }

    /// One byte of a size line or of the CRLF after a chunk's data.
    private mutating func step(_ byte: UInt8) throws(HTTP1Violation) {
        switch state {
        case .size(let value, let digits, let lineBytes):
            if let digit = Self.hexValue(byte) {
                guard value <= UInt64(Int64.max) >> 4 else { throw .chunkSizeOverflow }
                state = .size(value: value << 4 | UInt64(digit), digits: digits + 1, lineBytes: lineBytes + 1)
                return
            }
            guard digits > 0 else { throw .badChunkSize }
            state = .extensions(size: value, sawSemicolon: false, lineBytes: lineBytes)
            try step(byte)
        case .extensions(let size, let sawSemicolon, let lineBytes):
            guard lineBytes < limits.maxChunkLineBytes else { throw .chunkExtensionTooLong }
            switch byte {
            case ByteClass.cr:
                state = .sizeLineFeed(size: size)
            case ByteClass.lf:
                throw .bareLineFeed
            case UInt8(ascii: ";"):
                state = .extensions(size: size, sawSemicolon: true, lineBytes: lineBytes + 1)
            case _ where ByteClass.isWhitespace(byte):
                state = .extensions(size: size, sawSemicolon: sawSemicolon, lineBytes: lineBytes + 1)
            case _ where !ByteClass.isFieldContent(byte):
                throw .badChunkExtension
            default:
                // Anything but whitespace between the size and the first `;` is not a size.
                guard sawSemicolon else { throw .badChunkSize }
                state = .extensions(size: size, sawSemicolon: true, lineBytes: lineBytes + 1)
            }
        case .sizeLineFeed(let size):
            guard byte == ByteClass.lf else { throw .bareCarriageReturn }
            state = size == 0 ? .trailers : .data(remaining: size)
        case .dataCarriageReturn:
            guard byte == ByteClass.cr else { throw .missingChunkDataEnd }
            state = .dataLineFeed
        case .dataLineFeed:
            guard byte == ByteClass.lf else { throw .missingChunkDataEnd }
            state = .size(value: 0, digits: 0, lineBytes: 0)
        case .data, .trailers, .done:
            preconditionFailure("bytes of \(state) are not read one at a time")
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
