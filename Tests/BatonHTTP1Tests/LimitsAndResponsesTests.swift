import BatonHTTP1
import NIOCore
import Testing

@Suite("HTTP/1.1 codec: limits and responses")
struct LimitsAndResponsesTests {
    let small = HeadLimits(maxHeadBytes: 64, maxFields: 2, maxChunkLineBytes: 8)

    @Test func aHeadPastTheLimitIs431EvenBeforeItsEnd() {
        let head = "GET / HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: 64)
        #expect(Reading.baton([Array(head.utf8)], limits: small).1 == .headTooLarge)
        // Exactly at the limit is fine.
        let exact = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 41) + "\r\n\r\n"
        #expect(exact.utf8.count == 64)
        #expect(Reading.baton([Array(exact.utf8)], limits: small).1 == nil)
    }

    @Test func emptyLinesBeforeTheRequestLineCountTowardsTheLimit() {
        let padded = String(repeating: "\r\n", count: 40) + "GET / HTTP/1.1\r\n\r\n"
        #expect(Reading.baton([Array(padded.utf8)], limits: small).1 == .headTooLarge)
    }

    @Test func moreFieldsThanTheLimitIs431() {
        let head = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        let (_, violation) = Reading.baton([Array(head.utf8)], limits: small)
        #expect(violation == .tooManyFields)
        #expect(violation?.status == 431)
    }

    @Test func chunkedBodiesHoldTheirLimits() {
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        let longLine = head + "5;" + String(repeating: "x", count: 8) + "\r\nhello\r\n0\r\n\r\n"
        #expect(Reading.baton([Array(longLine.utf8)], limits: small).1 == .chunkExtensionTooLong)
        let trailers = head + "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        #expect(Reading.baton([Array(trailers.utf8)], limits: small).1 == .trailersTooLarge)
        let control = head + "5;a=\u{1}\r\nhello\r\n0\r\n\r\n"
        #expect(Reading.baton([Array(control.utf8)]).1 == .badChunkExtension)
        let spaceOnly = head + "5 x\r\nhello\r\n0\r\n\r\n"
        #expect(Reading.baton([Array(spaceOnly.utf8)]).1 == .badChunkSize)
    }

    @Test func aViolationEndsTheReading() throws {
        var decoder = RequestDecoder()
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nX : 1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        #expect(throws: HTTP1Violation.whitespaceBeforeColon) { try decoder.next(&buffer) }
        #expect(throws: HTTP1Violation.whitespaceBeforeColon) { try decoder.next(&buffer) }
    }

    @Test func fieldsAreFoundInAnyCaseAndListsAreSplit() throws {
        var parser = HeadParser()
        let bytes = ByteBuffer(
            string: "GET /x HTTP/1.1\r\nHOST: a\r\nConnection: keep-alive,  Upgrade\r\nconnection: x\r\n\r\n"
        )
        guard case .complete(let head, let consumed) = parser.parseRequest(bytes) else {
            Issue.record("not parsed")
            return
        }
        #expect(consumed == bytes.readableBytes)
        #expect(head.isMethod("GET") && !head.isMethod("GE"))
        #expect(head.fields.first(.host) == "a")
        #expect(head.fields.listElements(.connection) == ["keep-alive", "upgrade", "x"])
        #expect(!head.fields.contains(.contentLength))
    }

    @Test func responsesAreReadWithTheirFraming() throws {
        func read(_ text: String, answeringHead: Bool = false) throws(HTTP1Violation) -> (UInt16, MessageFraming)? {
            var parser = HeadParser()
            switch parser.parseResponse(ByteBuffer(string: text)) {
            case .incomplete: return nil
            case .refused(let violation): throw violation
            case .complete(let head, _): return (head.status, try head.framing(answeringHead: answeringHead))
            }
        }
        #expect(try read("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")! == (200, .length(5)))
        #expect(
            try read("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", answeringHead: true)! == (200, MessageFraming.none)
        )
        #expect(try read("HTTP/1.1 204 No Content\r\n\r\n")! == (204, MessageFraming.none))
        #expect(try read("HTTP/1.1 304\r\n\r\n")! == (304, MessageFraming.none))
        #expect(try read("HTTP/1.0 200 OK\r\n\r\n")! == (200, .untilClose))
        #expect(try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")! == (200, .chunked))
        #expect(try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")! == (200, .untilClose))
        #expect(try read("HTTP/1.1 200 OK\r\n") == nil)
        #expect(throws: HTTP1Violation.contentLengthWithTransferEncoding) {
            try read("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        }
        #expect(throws: HTTP1Violation.badStatusLine) { try read("HTTP/1.1 2000 OK\r\n\r\n") }
        #expect(throws: HTTP1Violation.badStatusLine) { try read("\r\nHTTP/1.1 200 OK\r\n\r\n") }
        #expect(throws: HTTP1Violation.badStatusLine) { try read("HTTP/1.1 099 Low\r\n\r\n") }
    }
}
