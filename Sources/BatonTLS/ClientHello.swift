import NIOCore

/// What a TLS ClientHello asks for, read from the first bytes of a connection before any TLS
/// library sees them (RFC 8446 §4.1.2, §5.1; RFC 6066 §3; RFC 7301 §3.1): the server name and
/// the ALPN protocols offered. Only to choose how to answer; the TLS library reads the same
/// bytes again and checks all of them.
struct ClientHello: Sendable, Hashable {
    var serverName: String?
    var protocols: [String]

    enum Reading: Sendable, Hashable {
        /// The bytes so far are the start of a ClientHello.
        case incomplete
        case hello(ClientHello)
        /// Not a ClientHello this reader can use: left to the TLS library to refuse or to serve.
        case unreadable
    }

    /// The most a ClientHello may span here, which bounds what a connection buffers before
    /// TLS begins: hellos are far smaller, in one record. A larger one is `unreadable`.
    static let maxHandshakeBytes = 1 << 14
    static let maxRecords = 4
    /// RFC 8446 §5.1.
    static let maxRecordBytes = 1 << 14

    /// Reads `bytes` from the start of a connection, which may hold less or more than the hello.
    static func read(_ bytes: ByteBuffer) -> Reading {
        var records = bytes
        var handshake = ByteBuffer()
        var recordsRead = 0
        // A hello may span records (RFC 8446 §5.1): gather their fragments until it is whole.
        while true {
            if let header = handshake.getInteger(at: handshake.readerIndex, as: UInt32.self) {
                // The first handshake message of a connection is the client_hello (type 1).
                let length = Int(header & 0xFF_FFFF)
                guard header >> 24 == 1, length <= maxHandshakeBytes else { return .unreadable }
                if handshake.readableBytes >= 4 + length {
                    var message = handshake.getSlice(at: handshake.readerIndex + 4, length: length)!
                    return Self.body(&message).map(Reading.hello) ?? .unreadable
                }
            }
            guard recordsRead < maxRecords else { return .unreadable }
            guard let type = records.getInteger(at: records.readerIndex, as: UInt8.self) else { return .incomplete }
            guard type == 22 else { return .unreadable }
            guard records.readableBytes >= 5 else { return .incomplete }
            let version = records.getInteger(at: records.readerIndex + 1, as: UInt8.self)!
            let length = Int(records.getInteger(at: records.readerIndex + 3, as: UInt16.self)!)
            guard version == 3, length > 0, length <= maxRecordBytes else { return .unreadable }
            guard records.readableBytes >= 5 + length else { return .incomplete }
            records.moveReaderIndex(forwardBy: 5)
            var fragment = records.readSlice(length: length)!
            handshake.writeBuffer(&fragment)
            recordsRead += 1
        }
    }

    private static func body(_ message: inout ByteBuffer) -> ClientHello? {
        guard message.readInteger(as: UInt16.self) != nil, message.readSlice(length: 32) != nil,
            Self.vector(&message, lengthBytes: 1) != nil,
            Self.vector(&message, lengthBytes: 2) != nil,
            Self.vector(&message, lengthBytes: 1) != nil
        else { return nil }
        var hello = ClientHello(serverName: nil, protocols: [])
        // TLS 1.2 allows a hello without extensions.
        guard message.readableBytes > 0 else { return hello }
        guard var extensions = Self.vector(&message, lengthBytes: 2), message.readableBytes == 0 else { return nil }
        var seen = Set<UInt16>()
        while extensions.readableBytes > 0 {
            guard let type = extensions.readInteger(as: UInt16.self),
                var data = Self.vector(&extensions, lengthBytes: 2),
                seen.insert(type).inserted
            else { return nil }
            switch type {
            case 0: guard Self.serverName(&data, into: &hello) else { return nil }
            case 16: guard Self.protocols(&data, into: &hello) else { return nil }
            default: break
            }
        }
        return hello
    }

    /// RFC 6066 §3: a list of names, of which only a host name is defined.
    private static func serverName(_ data: inout ByteBuffer, into hello: inout ClientHello) -> Bool {
        guard var list = Self.vector(&data, lengthBytes: 2), data.readableBytes == 0 else { return false }
        while list.readableBytes > 0 {
            guard let kind = list.readInteger(as: UInt8.self), let name = Self.vector(&list, lengthBytes: 2) else {
                return false
            }
            if kind == 0 {
                guard hello.serverName == nil, name.readableBytes > 0 else { return false }
                hello.serverName = String(buffer: name).lowercased()
            }
        }
        return true
    }

    /// RFC 7301 §3.1: a non-empty list of non-empty names.
    private static func protocols(_ data: inout ByteBuffer, into hello: inout ClientHello) -> Bool {
        guard var list = Self.vector(&data, lengthBytes: 2), data.readableBytes == 0, list.readableBytes > 0 else {
            return false
        }
        while list.readableBytes > 0 {
            guard let name = Self.vector(&list, lengthBytes: 1), name.readableBytes > 0 else { return false }
            hello.protocols.append(String(buffer: name))
        }
        return true
    }

    /// A length-prefixed vector, or nil when its length runs past the bytes there are.
    private static func vector(_ buffer: inout ByteBuffer, lengthBytes: Int) -> ByteBuffer? {
        let length: Int?
        switch lengthBytes {
        case 1: length = buffer.readInteger(as: UInt8.self).map(Int.init)
        default: length = buffer.readInteger(as: UInt16.self).map(Int.init)
        }
        return length.flatMap { buffer.readSlice(length: $0) }
    }
}
