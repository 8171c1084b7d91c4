import BatonHTTP1
import NIOCore

/// A request that did not come as HTTP/1.1 bytes (an HTTP/2 stream, a request made inside
/// the host) is written out as HTTP/1.1 and read back by the client parser: one parser and
/// one set of rules for every request, whatever carried it.
enum RequestRewriting {
    /// The head and its framing, or why it is refused. A CR, LF or NUL anywhere is refused
    /// before anything is written, so no value can end its line and start another.
    static func head(
        method: String,
        target: String,
        fields: [(name: String, value: String)],
        limits: HeadLimits
    ) -> Result<(RequestHead, MessageFraming), HTTP1Violation> {
        func breaksLines(_ text: String) -> Bool {
            text.utf8.contains { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") || $0 == 0 }
        }
        guard !breaksLines(method), !breaksLines(target) else { return .failure(.badRequestLine) }
        var bytes = ByteBuffer(string: "\(method) \(target) HTTP/1.1\r\n")
        for (name, value) in fields {
            guard !breaksLines(name) else { return .failure(.badFieldName) }
            guard !breaksLines(value) else { return .failure(.badFieldValue) }
            bytes.writeString("\(name): \(value)\r\n")
        }
        bytes.writeString("\r\n")
        var parser = HeadParser(limits: limits)
        switch parser.parseRequest(bytes) {
        case .complete(let head, _):
            return Result { () throws(HTTP1Violation) in (head, try head.framing()) }
        case .refused(let violation): return .failure(violation)
        case .incomplete: return .failure(.headTooLarge)
        }
    }
}
