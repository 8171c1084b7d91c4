import BatonHTTP1
import NIOCore

/// Writes the heads the proxy sends, both ways, from the heads it read: the fields it keeps
/// are copied as they came, and what belongs to one hop is the proxy's alone to say.
enum HeadWriter {
    /// Fields that belong to one hop and are never forwarded (RFC 9110 §7.6.1).
    private static let hopByHop: [FieldName] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]
    /// Request fields the proxy answers or sets itself: it answers `Expect`, frames and
    /// routes the request anew, and says alone how the request came (a client's own
    /// `X-Forwarded-Proto: https` over plain HTTP would be a lie the app believes).
    private static let reframed: [FieldName] = [
        "expect", "content-length", "host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
        "x-forwarded-prefix",
    ]
    private static let droppedFromRequests = hopByHop + reframed
    private static let forwardedForField: FieldName = "x-forwarded-for"
    static let requestID: FieldName = "x-request-id"
    private static let strictTransportSecurityField: FieldName = "strict-transport-security"

    /// The request as the sandbox gets it: hop-by-hop fields gone, the target in origin
    /// form, Host and the body's framing set by the proxy alone (never what the client sent
    /// or hid behind `Connection`), `X-Forwarded-*` appended, and an `X-Request-Id` (the
    /// client's, or `requestID`).
    static func upstreamRequest(
        _ exchange: ProxyExchange,
        clientAddress: String?,
        into buffer: inout ByteBuffer
    ) {
        let fields = exchange.head.fields
        let checked = exchange.checked
        buffer.writeString(exchange.method)
        buffer.writeStaticString(" ")
        buffer.writeString(checked.target)
        buffer.writeStaticString(" HTTP/1.1\r\n")
        let connectionNamesFields = fields.contains(.connection)
        var forwardedFor: [String] = []
        for index in 0..<fields.count {
            if fields.field(index, is: forwardedForField) { forwardedFor.append(fields.value(at: index)) }
            guard !droppedFromRequests.contains(where: { fields.field(index, is: $0) }),
                !(connectionNamesFields && fields.isNamedByConnection(index))
            else { continue }
            fields.writeLine(at: index, into: &buffer)
        }
        if let authority = checked.authority { line("Host", authority, into: &buffer) }
        switch checked.framing {
        case .none, .untilClose: break
        case .length(let length): line("Content-Length", "\(length)", into: &buffer)
        case .chunked: buffer.writeStaticString("Transfer-Encoding: chunked\r\n")
        }
        if let upgrade = checked.upgrade {
            buffer.writeStaticString("Connection: Upgrade\r\n")
            line("Upgrade", upgrade, into: &buffer)
        }
        if let clientAddress { forwardedFor.append(clientAddress) }
        if !forwardedFor.isEmpty { line("X-Forwarded-For", forwardedFor.joined(separator: ", "), into: &buffer) }
        line("X-Forwarded-Proto", checked.scheme.rawValue, into: &buffer)
        if let authority = checked.authority { line("X-Forwarded-Host", authority, into: &buffer) }
        if let prefix = checked.strippedPrefix { line("X-Forwarded-Prefix", prefix, into: &buffer) }
        if !fields.contains(requestID) { line("X-Request-Id", exchange.requestID, into: &buffer) }
        buffer.writeStaticString("\r\n")
    }

    /// The response as the client gets it: hop-by-hop fields gone, the client's own HTTP
    /// version and keep-alive decision stated, and `chunked` when the proxy chunks the body.
    /// A 101 goes as the sandbox sent it: its Upgrade and Connection are the switch itself.
    static func clientResponse(
        _ head: ResponseHead,
        strictTransportSecurity: String? = nil,
        minorVersion: Int,
        keepAlive: Bool,
        chunked: Bool,
        into buffer: inout ByteBuffer
    ) {
        statusLine(minorVersion: minorVersion, code: head.status, phrase: head.reason, into: &buffer)
        let fields = head.fields
        let connectionNamesFields = fields.contains(.connection)
        for index in 0..<fields.count
        where forwards(
            head,
            index,
            connectionNamesFields,
            replacingStrictTransportSecurity: strictTransportSecurity != nil
        ) {
            fields.writeLine(at: index, into: &buffer)
        }
        if let strictTransportSecurity { line("Strict-Transport-Security", strictTransportSecurity, into: &buffer) }
        if head.status != 101 {
            if !keepAlive {
                buffer.writeStaticString("Connection: close\r\n")
            } else if minorVersion == 0 {
                buffer.writeStaticString("Connection: keep-alive\r\n")
            }
        }
        if chunked { buffer.writeStaticString("Transfer-Encoding: chunked\r\n") }
        buffer.writeStaticString("\r\n")
    }

    /// The response's fields as an HTTP/2 client gets them: lower-case names, none of one
    /// hop's (RFC 9113 §8.2.2), and the route's `Strict-Transport-Security` over the app's.
    static func clientResponseFields(_ head: ResponseHead, strictTransportSecurity: String?) -> [(String, String)] {
        let fields = head.fields
        let connectionNamesFields = fields.contains(.connection)
        var out: [(String, String)] = []
        out.reserveCapacity(fields.count + 1)
        for index in 0..<fields.count
        where forwards(
            head,
            index,
            connectionNamesFields,
            replacingStrictTransportSecurity: strictTransportSecurity != nil
        ) {
            out.append((fields.name(at: index).lowercased(), fields.value(at: index)))
        }
        if let strictTransportSecurity { out.append(("strict-transport-security", strictTransportSecurity)) }
        return out
    }

    /// Whether a response field goes on to the client: not one hop's (a 101's go, they are
    /// the switch itself), and not the app's `Strict-Transport-Security` where the route sets one.
    private static func forwards(
        _ head: ResponseHead,
        _ index: Int,
        _ connectionNamesFields: Bool,
        replacingStrictTransportSecurity: Bool
    ) -> Bool {
        let fields = head.fields
        if replacingStrictTransportSecurity, fields.field(index, is: strictTransportSecurityField) { return false }
        return head.status == 101
            || !(hopByHop.contains(where: { fields.field(index, is: $0) })
                || (connectionNamesFields && fields.isNamedByConnection(index)))
    }

    /// A plain-text answer of the proxy's own, `body` as it is, after which the connection closes.
    static func plainText(
        _ status: ResponseStatus,
        body: String,
        minorVersion: Int,
        retryAfter: Int?,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 160 + body.utf8.count)
        statusLine(minorVersion: minorVersion, code: status.code, phrase: status.phrase, into: &buffer)
        buffer.writeStaticString("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n")
        line("Content-Length", "\(body.utf8.count)", into: &buffer)
        if let retryAfter { line("Retry-After", "\(retryAfter)", into: &buffer) }
        buffer.writeStaticString("\r\n")
        buffer.writeString(body)
        return buffer
    }

    /// A 308 to `location`, after which the connection closes.
    static func redirect(to location: String, minorVersion: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 128 + location.utf8.count)
        statusLine(minorVersion: minorVersion, code: 308, phrase: "Permanent Redirect", into: &buffer)
        line("Location", location, into: &buffer)
        buffer.writeStaticString("Content-Length: 0\r\nConnection: close\r\n\r\n")
        return buffer
    }

    static let continueResponse = "HTTP/1.1 100 Continue\r\n\r\n"

    private static func statusLine(minorVersion: Int, code: UInt16, phrase: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(minorVersion == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeString("\(code) \(phrase)\r\n")
    }

    private static func line(_ name: StaticString, _ value: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(value)
        buffer.writeStaticString("\r\n")
    }
}
