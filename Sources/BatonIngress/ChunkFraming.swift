import NIOCore

/// The chunked framing (RFC 9112 §7.1) the proxy writes around body parts it forwards.
enum ChunkFraming {
    /// `size CRLF` for a chunk holding `data`.
    static func header(for data: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var header = allocator.buffer(capacity: 18)
        header.writeString(String(data.readableBytes, radix: 16))
        header.writeStaticString("\r\n")
        return header
    }

    /// The CRLF after a chunk's data.
    static let dataEnd = ByteBuffer(string: "\r\n")
    /// The last chunk, with no trailers.
    static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
}
