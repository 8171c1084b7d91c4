import NIOCore

/// A request head as the parser read it: the request line and fields, in place.
public struct RequestHead: Sendable {
    public let fields: HeadFields
    let methodLength: Int
    let targetStart: Int
    let targetLength: Int
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public let minorVersion: Int

    public var method: String { fields.bytes.getString(at: fields.bytes.readerIndex, length: methodLength) ?? "" }
    public var target: String {
        fields.bytes.getString(at: fields.bytes.readerIndex + targetStart, length: targetLength) ?? ""
    }

    /// Whether the method is exactly `name` (methods are case-sensitive).
    public func isMethod(_ name: StaticString) -> Bool {
        guard name.utf8CodeUnitCount == methodLength else { return false }
        return fields.bytes.withUnsafeReadableBytes { raw in
            name.withUTF8Buffer { expected in expected.elementsEqual(raw.prefix(methodLength)) }
        }
    }
}

/// A response head as the parser read it: the status line and fields, in place.
public struct ResponseHead: Sendable {
    public let fields: HeadFields
    public let minorVersion: Int
    public let status: UInt16
    let reasonStart: Int
    let reasonLength: Int

    public var reason: String {
        fields.bytes.getString(at: fields.bytes.readerIndex + reasonStart, length: reasonLength) ?? ""
    }
}

/// What a parser made of the bytes so far.
public enum HeadParse<Head: Sendable>: Sendable {
    /// No whole head yet: call again with more bytes.
    case incomplete
    /// A head, and how many bytes it took from the front of the buffer.
    case complete(Head, consumed: Int)
    case refused(HTTP1Violation)
}

extension RequestHead {
    /// Whether the connection may carry another request after this one (RFC 9112 §9.3).
    public var keepAlive: Bool {
        fields.keepAlive(minorVersion: minorVersion)
    }

    /// The protocol the client asks to switch to (RFC 9110 §7.8), nil when it does not ask.
    public var upgrade: String? {
        guard minorVersion == 1, fields.listContains(.connection, .upgrade) else { return nil }
        return fields.first(.upgrade)
    }
}

extension ResponseHead {
    /// Whether the connection may carry another request after this response.
    public var keepAlive: Bool {
        fields.keepAlive(minorVersion: minorVersion)
    }
}

extension HeadFields {
    /// RFC 9112 §9.3: HTTP/1.1 stays open unless `Connection: close`; 1.0 only with keep-alive.
    func keepAlive(minorVersion: Int) -> Bool {
        minorVersion == 1 ? !listContains(.connection, "close") : listContains(.connection, "keep-alive")
    }
}
