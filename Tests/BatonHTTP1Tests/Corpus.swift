import BatonHTTP1
import Testing

/// Byte streams a client may send, with what Baton's decoder must make of them.
struct Sample: CustomTestStringConvertible, Sendable {
    enum Outcome: Sendable {
        /// Read as SwiftNIO's decoder reads it.
        case asNIO
        /// Refused, and so by SwiftNIO's decoder too.
        case refused(HTTP1Violation)
        /// Refused where SwiftNIO's decoder reads on, for the reason given.
        case stricter(HTTP1Violation, because: String)
    }

    var name: String
    var bytes: [UInt8]
    var outcome: Outcome

    init(_ name: String, _ text: String, _ outcome: Outcome = .asNIO) {
        self.name = name
        bytes = Array(text.utf8)
        self.outcome = outcome
    }

    init(_ name: String, bytes: [UInt8], _ outcome: Outcome) {
        self.name = name
        self.bytes = bytes
        self.outcome = outcome
    }

    var testDescription: String { name }

    static let get = "GET / HTTP/1.1\r\nHost: shop.test\r\n"

    static let all: [Sample] = [
        Sample("a GET", get + "\r\n"),
        Sample("two pipelined GETs", get + "\r\n" + "GET /two HTTP/1.1\r\nHost: b\r\n\r\n"),
        Sample("a POST with a length", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
        Sample("a length of zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
        Sample(
            "a repeated equal length",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            .refused(.badContentLength)
        ),
        Sample(
            "a length list",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
            .refused(.badContentLength)
        ),
        Sample(
            "a chunked body with an extension and trailers",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Sum: 15\r\nX-Other: b\r\n\r\n"
        ),
        Sample(
            "a chunked body then a GET",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get + "\r\n"
        ),
        Sample("HTTP/1.0", "GET / HTTP/1.0\r\n\r\n"),
        Sample("empty lines before the request line", "\r\n\r\n" + get + "\r\n"),
        Sample("whitespace around a value", get + "X-Pad: \t padded \t \r\n\r\n"),
        Sample("an empty value", get + "X-Empty:\r\n\r\n"),
        Sample(
            "obs-text in a value",
            bytes: Array((get + "X-Latin: caf").utf8) + [0xE9] + Array("\r\n\r\n".utf8),
            .asNIO
        ),
        Sample("an absolute-form target", "GET http://shop.test/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n"),
        Sample("an asterisk-form target", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
        Sample("an extension method", "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        Sample("a head cut short", get),
        Sample("a body cut short", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhalf"),

        Sample(
            "Content-Length with Transfer-Encoding",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            .refused(.contentLengthWithTransferEncoding)
        ),
        Sample(
            "two different lengths",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            .refused(.badContentLength)
        ),
        Sample(
            "a negative length",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            .refused(.badContentLength)
        ),
        Sample(
            "a length with a sign",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
            .refused(.badContentLength)
        ),
        Sample(
            "a length in hex",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello",
            .refused(.badContentLength)
        ),
        Sample(
            "chunked not last",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
            .refused(.chunkedNotFinal)
        ),
        Sample(
            "a coding before chunked",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            .stricter(
                .unsupportedTransferEncoding,
                because: "no sandbox is asked to undo a coding Baton did not check (501)"
            )
        ),
        Sample(
            "Transfer-Encoding in HTTP/1.0",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            .stricter(.transferEncodingInHTTP10, because: "HTTP/1.0 has no chunked framing (RFC 9112 §6.1)")
        ),
        Sample("obs-fold", get + "X-Folded: a\r\n b\r\n\r\n", .refused(.obsoleteLineFolding)),
        Sample("NUL in a value", get + "X-Nul: a\u{0}b\r\n\r\n", .refused(.badFieldValue)),
        Sample("DEL in a value", get + "X-Del: a\u{7F}b\r\n\r\n", .refused(.badFieldValue)),
        Sample("CR in a value", get + "X-Cr: a\rb\r\n\r\n", .refused(.bareCarriageReturn)),
        Sample("whitespace before the colon", get + "X-Space : 1\r\n\r\n", .refused(.whitespaceBeforeColon)),
        Sample("an empty field name", get + ": value\r\n\r\n", .refused(.badFieldName)),
        Sample("a field line without a colon", get + "NoColon\r\n\r\n", .refused(.badFieldName)),
        Sample("a non-token name", get + "X(Y): 1\r\n\r\n", .refused(.badFieldName)),
        Sample(
            "a chunk size past 64 bits",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nx\r\n0\r\n\r\n",
            .refused(.chunkSizeOverflow)
        ),
        Sample(
            "a chunk size that is not hex",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n0\r\n\r\n",
            .refused(.badChunkSize)
        ),
        Sample(
            "chunk data longer than its size",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            .refused(.missingChunkDataEnd)
        ),
        Sample("bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", .refused(.bareLineFeed)),
        Sample("a bare LF after a field", get + "X-A: 1\n\r\n", .refused(.bareLineFeed)),
        Sample("a space inside the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", .refused(.badRequestLine)),
        Sample(
            "two spaces after the method",
            "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            .stricter(
                .badRequestLine,
                because: "one SP exactly (RFC 9112 §3): a sandbox may read the target another way"
            )
        ),
        Sample("no version", "GET /\r\nHost: a\r\n\r\n", .refused(.badRequestLine)),
        Sample("a lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", .refused(.badRequestLine)),
        Sample("HTTP/2.0 on the wire", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", .refused(.unsupportedVersion)),
        Sample("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", .refused(.unsupportedVersion)),
        Sample("NUL in the target", "GET /a\u{0}b HTTP/1.1\r\nHost: a\r\n\r\n", .refused(.badRequestLine)),
        Sample("a method that is not a token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", .refused(.badRequestLine)),
    ]
}
