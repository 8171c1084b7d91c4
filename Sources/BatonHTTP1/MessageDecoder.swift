import NIOCore

/// A part of a message, in the order it comes: one head, its body's parts, one end.
public enum MessagePart<Head: Sendable>: Sendable {
    case head(Head, MessageFraming)
    case body(ByteBuffer)
    /// The end of the message, with a chunked body's trailers if it had any.
    case end(trailers: HeadFields?)
}

/// Reads messages one after another from the front of a buffer that grows as bytes come:
/// a head, its body framed as the head says, its end, then the next. Body parts are slices
/// of the buffer. After a violation it reads nothing more: the connection must end.
struct MessageDecoder<Head: Sendable>: Sendable {
    private enum State: Sendable {
        case head
        case length(remaining: Int64)
        case chunked(ChunkedDecoder)
        case untilClose
        case ending
        case failed(HTTP1Violation)
    }

    private var state = State.head
    private var parser: HeadParser

    init(limits: HeadLimits) {
        parser = HeadParser(limits: limits)
    }

    /// Whether the decoder is between messages, with no byte of the next one consumed.
    var isBetweenMessages: Bool {
        if case .head = state { return true }
        return false
    }

    /// The next part, reading a head with `readHead` and its framing with `frame`.
    mutating func next(
        _ buffer: inout ByteBuffer,
        readHead: (inout HeadParser, ByteBuffer) -> HeadParse<Head>,
        frame: (Head) throws(HTTP1Violation) -> MessageFraming
    ) throws(HTTP1Violation) -> MessagePart<Head>? {
        switch state {
        case .failed(let violation):
            throw violation
        case .head:
            switch readHead(&parser, buffer) {
            case .incomplete: return nil
            case .refused(let violation): return try fail(violation)
            case .complete(let head, let consumed):
                buffer.moveReaderIndex(forwardBy: consumed)
                let framing: MessageFraming
                do throws(HTTP1Violation) { framing = try frame(head) } catch { return try fail(error) }
                switch framing {
                case .none: state = .ending
                case .length(let length): state = .length(remaining: length)
                case .chunked: state = .chunked(ChunkedDecoder(limits: parser.limits))
                case .untilClose: state = .untilClose
                }
                return .head(head, framing)
            }
        case .ending:
            state = .head
            return .end(trailers: nil)
        case .length(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let length = Int(min(remaining, Int64(buffer.readableBytes)))
            let slice = buffer.readSlice(length: length)!
            state = remaining == Int64(length) ? .ending : .length(remaining: remaining - Int64(length))
            return .body(slice)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!)
        case .chunked(var decoder):
            let part: ChunkedDecoder.Part?
            do throws(HTTP1Violation) { part = try decoder.next(&buffer) } catch { return try fail(error) }
            switch part {
            case nil:
                state = .chunked(decoder)
                return nil
            case .data(let data)?:
                state = .chunked(decoder)
                return .body(data)
            case .end(let trailers)?:
                state = .head
                return .end(trailers: trailers)
            }
        }
    }

    /// The connection ended: a body read until close ends with it; anything else cut short
    /// is not a whole message.
    mutating func connectionEnded() -> MessagePart<Head>? {
        guard case .untilClose = state else { return nil }
        state = .head
        return .end(trailers: nil)
    }

    private mutating func fail(_ violation: HTTP1Violation) throws(HTTP1Violation) -> MessagePart<Head>? {
        state = .failed(violation)
        throw violation
    }
}

/// Reads the requests a client sends on one connection.
public struct RequestDecoder: Sendable {
    private var decoder: MessageDecoder<RequestHead>

    public init(limits: HeadLimits = HeadLimits()) {
        decoder = MessageDecoder(limits: limits)
    }

    public var isBetweenRequests: Bool { decoder.isBetweenMessages }

    /// The HTTP minor version of the last request head read, for the answer to a violation.
    public private(set) var minorVersion = 1

    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1Violation) -> MessagePart<RequestHead>? {
        var minor: Int?
        defer { if let minor { minorVersion = minor } }
        return try decoder.next(&buffer, readHead: { $0.parseRequest($1) }) { (head) throws(HTTP1Violation) in
            minor = head.minorVersion
            return try head.framing()
        }
    }
}

/// Reads the responses a server sends on one connection, one per request sent.
public struct ResponseDecoder: Sendable {
    private var decoder: MessageDecoder<ResponseHead>
    /// Whether the response being read answers a HEAD request, so has no body.
    public var answeringHead = false

    public init(limits: HeadLimits = HeadLimits()) {
        decoder = MessageDecoder(limits: limits)
    }

    public var isBetweenResponses: Bool { decoder.isBetweenMessages }

    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1Violation) -> MessagePart<ResponseHead>? {
        let answeringHead = self.answeringHead
        return try decoder.next(&buffer, readHead: { $0.parseResponse($1) }) { (head) throws(HTTP1Violation) in
            try head.framing(answeringHead: answeringHead)
        }
    }

    /// The connection ended: a body read until close is whole now.
    public mutating func connectionEnded() -> MessagePart<ResponseHead>? {
        decoder.connectionEnded()
    }
}
