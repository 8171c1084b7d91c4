/// How a message's body is delimited (RFC 9112 §6.3).
public enum MessageFraming: Equatable, Sendable {
    case none
    case length(Int64)
    case chunked
    /// A response without a length: its body ends when the connection does.
    case untilClose
}

extension RequestHead {
    /// The framing of this request's body; anything a sandbox could read another way is
    /// refused (§6.1, §6.3): Content-Length with Transfer-Encoding, repeated or malformed
    /// lengths, a final coding other than chunked (400), or codings besides chunked (501).
    public func framing() throws(HTTP1Violation) -> MessageFraming {
        if fields.contains(.transferEncoding) {
            guard minorVersion == 1 else { throw .transferEncodingInHTTP10 }
            guard !fields.contains(.contentLength) else { throw .contentLengthWithTransferEncoding }
            let codings = fields.listElements(.transferEncoding)
            guard codings.last == "chunked" else { throw .chunkedNotFinal }
            guard codings.count == 1 else { throw .unsupportedTransferEncoding }
            return .chunked
        }
        guard let length = try fields.contentLength() else { return .none }
        return length == 0 ? .none : .length(length)
    }
}

extension ResponseHead {
    /// The framing of this response's body, given the request it answers: none after HEAD,
    /// for 1xx, 204 and 304; chunked only as the final coding, else until close.
    public func framing(answeringHead: Bool) throws(HTTP1Violation) -> MessageFraming {
        if answeringHead || status < 200 || status == 204 || status == 304 { return .none }
        if fields.contains(.transferEncoding) {
            // Both at once is how responses are smuggled; nginx refuses it too.
            guard !fields.contains(.contentLength) else { throw .contentLengthWithTransferEncoding }
            return fields.listElements(.transferEncoding).last == "chunked" ? .chunked : .untilClose
        }
        guard let length = try fields.contentLength() else { return .untilClose }
        return .length(length)
    }
}

extension HeadFields {
    /// The Content-Length, nil without one. Exactly one field with one decimal number: a
    /// repeated length, even an equal one, is refused, as llhttp does.
    func contentLength() throws(HTTP1Violation) -> Int64? {
        let indices = ranges.indices.filter { field($0, is: .contentLength) }
        guard let index = indices.first else { return nil }
        let digits = valueBytes(at: index).readableBytesView
        // 18 digits always fit an Int64.
        guard indices.count == 1, !digits.isEmpty, digits.count <= 18,
            digits.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 })
        else { throw .badContentLength }
        return digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
    }
}
