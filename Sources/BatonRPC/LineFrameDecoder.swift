import NIOCore

/// Sent down the pipeline, as a user event, for a line longer than the limit; its bytes
/// are being discarded up to the next `\n`. Lines themselves travel as plain buffers, so
/// the common case carries nothing extra.
public struct LineTooLong: Hashable, Sendable {
    public var limit: Int
}

/// Splits a byte stream on `\n`, accepting `\r\n`, and passes each line on without its
/// line ending. A line longer than `maxLineBytes` is reported once as `LineTooLong` as soon
/// as the limit is crossed, and the rest of it
/// is skipped without being buffered, so the connection can carry on with the next line.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public let maxLineBytes: Int
    /// Bytes of the current line already searched for a newline.
    private var scanned = 0
    /// True while skipping the tail of an over-long line.
    private var discarding = false

    public init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        let newline = view.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n"))
        if discarding {
            guard let newline else {
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                return .needMoreData
            }
            buffer.moveReaderIndex(to: newline + 1)
            discarding = false
            scanned = 0
            return .continue
        }
        guard let newline else {
            scanned = buffer.readableBytes
            if scanned > maxLineBytes {
                startDiscarding(context: context, buffer: &buffer)
                return .continue
            }
            return .needMoreData
        }
        var length = newline - buffer.readerIndex
        if length > maxLineBytes + 1 || (length == maxLineBytes + 1 && view[newline - 1] != UInt8(ascii: "\r")) {
            buffer.moveReaderIndex(to: newline + 1)
            scanned = 0
            context.fireUserInboundEventTriggered(LineTooLong(limit: maxLineBytes))
            return .continue
        }
        if length > 0, view[newline - 1] == UInt8(ascii: "\r") { length -= 1 }
        let line = buffer.getSlice(at: buffer.readerIndex, length: length)!
        buffer.moveReaderIndex(to: newline + 1)
        scanned = 0
        context.fireChannelRead(NIOAny(line))
        return .continue
    }

    /// At end of input a final line without a newline is still delivered.
    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if !discarding, buffer.readableBytes > 0 {
            let line = buffer.readSlice(length: buffer.readableBytes)!
            context.fireChannelRead(NIOAny(line))
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }

    private mutating func startDiscarding(context: ChannelHandlerContext, buffer: inout ByteBuffer) {
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        discarding = true
        scanned = 0
        context.fireUserInboundEventTriggered(LineTooLong(limit: maxLineBytes))
    }
}
