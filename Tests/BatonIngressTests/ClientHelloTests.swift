import NIOCore
import NIOEmbedded
import NIOSSL
import Testing

@testable import BatonTLS

/// The ClientHello as BoringSSL writes it, read before TLS: whole only once every byte is
/// there, whatever the segments and records; anything else is left to TLS, never trusted.
struct ClientHelloTests {
    /// The first bytes a real TLS client sends.
    static func helloBytes(serverName: String?, protocols: [String]) throws -> ByteBuffer {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.applicationProtocols = protocols
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        try channel.pipeline.syncOperations.addHandler(
            try NIOSSLClientHandler(context: NIOSSLContext(configuration: configuration), serverHostname: serverName)
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        var bytes = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        return bytes
    }

    /// The same handshake message in records of at most `size` bytes of it each.
    static func reframed(_ bytes: ByteBuffer, size: Int) -> ByteBuffer {
        var message = bytes.getSlice(at: bytes.readerIndex + 5, length: bytes.readableBytes - 5)!
        var records = ByteBuffer()
        while message.readableBytes > 0 {
            let fragment = message.readSlice(length: min(size, message.readableBytes))!
            records.writeBytes([22, 3, 1])
            records.writeInteger(UInt16(fragment.readableBytes))
            records.writeImmutableBuffer(fragment)
        }
        return records
    }

    @Test func theServerNameAndProtocolsAreReadOnceTheWholeHelloIsThereAndNotBefore() throws {
        let bytes = try Self.helloBytes(serverName: "Shop.Test", protocols: ["acme-tls/1"])
        let expected = ClientHello.Reading.hello(ClientHello(serverName: "shop.test", protocols: ["acme-tls/1"]))
        #expect(ClientHello.read(bytes) == expected)
        for length in 0..<bytes.readableBytes {
            #expect(ClientHello.read(bytes.getSlice(at: 0, length: length)!) == .incomplete, "\(length) bytes")
        }
        var more = bytes
        more.writeString("GET / HTTP/1.1\r\n")
        #expect(ClientHello.read(more) == expected, "what follows the hello is not read")

        let plain = try Self.helloBytes(serverName: nil, protocols: ["h2", "http/1.1"])
        #expect(ClientHello.read(plain) == .hello(ClientHello(serverName: nil, protocols: ["h2", "http/1.1"])))
    }

    @Test func aHelloSpreadOverRecordsIsReadAsOneUpToItsBound() throws {
        let bytes = try Self.helloBytes(serverName: "shop.test", protocols: ["h2"])
        let expected = ClientHello.Reading.hello(ClientHello(serverName: "shop.test", protocols: ["h2"]))
        let length = bytes.readableBytes - 5
        #expect(ClientHello.read(Self.reframed(bytes, size: (length + 3) / 4)) == expected, "four records")
        let five = Self.reframed(bytes, size: (length + 4) / 5)
        #expect(ClientHello.read(five) == .unreadable, "five records: past the bound, left to TLS")
        let halves = Self.reframed(bytes, size: (length + 1) / 2)
        for cut in [6, halves.readableBytes / 2, halves.readableBytes - 1] {
            #expect(ClientHello.read(halves.getSlice(at: 0, length: cut)!) == .incomplete)
        }
    }

    @Test func bytesThatAreNoClientHelloAreUnreadableAndNeverTrusted() throws {
        let bytes = try Self.helloBytes(serverName: "shop.test", protocols: ["acme-tls/1"])
        func changed(_ offset: Int, _ value: UInt8) -> ByteBuffer {
            var copy = bytes
            copy.setInteger(value, at: offset)
            return copy
        }
        #expect(ClientHello.read(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")) == .unreadable)
        #expect(ClientHello.read(changed(0, 23)) == .unreadable, "application data first")
        #expect(ClientHello.read(changed(1, 2)) == .unreadable, "an SSL 2 record")
        #expect(ClientHello.read(changed(5, 2)) == .unreadable, "a server_hello")
        #expect(ClientHello.read(ByteBuffer(bytes: [22, 3, 1, 0, 0])) == .unreadable, "an empty record")
        #expect(ClientHello.read(ByteBuffer(bytes: [22, 3, 1, 0x40, 0x01])) == .unreadable, "a record past 2^14")
        #expect(
            ClientHello.read(ByteBuffer(bytes: [22, 3, 1, 0, 4, 1, 0, 0x40, 0x01])) == .unreadable,
            "a hello past 2^14"
        )
        var lying = bytes
        lying.setInteger(UInt16(0xFFFF), at: 5 + 4 + 2 + 32 + 1 + Int(bytes.getInteger(at: 43, as: UInt8.self)!))
        #expect(ClientHello.read(lying) == .unreadable, "cipher suites longer than the hello")
    }

    @Test func everyByteOfAHelloDamagedInTurnNeverCrashesTheReaderAndTheRandomFieldIsNotItsConcern() throws {
        let bytes = try Self.helloBytes(serverName: "shop.test", protocols: ["acme-tls/1", "h2"])
        let expected = ClientHello.Reading.hello(ClientHello(serverName: "shop.test", protocols: ["acme-tls/1", "h2"]))
        var verdicts: [String: Int] = [:]
        for offset in 0..<bytes.readableBytes {
            let original = bytes.getInteger(at: offset, as: UInt8.self)!
            for value in [0x00, 0xFF, original ^ 0x01, original &+ 0x80] where value != original {
                var damaged = bytes
                damaged.setInteger(value, at: offset)
                for cut in [offset + 1, damaged.readableBytes] {
                    switch ClientHello.read(damaged.getSlice(at: 0, length: cut)!) {
                    case .incomplete: verdicts["incomplete", default: 0] += 1
                    case .unreadable: verdicts["unreadable", default: 0] += 1
                    case .hello: verdicts["hello", default: 0] += 1
                    }
                }
            }
        }
        #expect(Set(verdicts.keys) == ["incomplete", "unreadable", "hello"], "the damage reached every verdict")
        var random = bytes
        for offset in 11..<43 { random.setInteger(UInt8(0xA5), at: offset) }
        #expect(ClientHello.read(random) == expected)
    }
}
