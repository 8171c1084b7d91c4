import NIOCore

/// The bytes a connection has received that its codec has not consumed yet.
struct Cumulation {
    private var bytes: ByteBuffer?

    /// Adds what one read brought; when nothing was left over, the read's buffer is kept as it
    /// is, without a copy.
    mutating func append(_ incoming: ByteBuffer) {
        var incoming = incoming
        if bytes == nil || bytes!.readableBytes == 0 {
            bytes = incoming
        } else {
            bytes!.writeBuffer(&incoming)
        }
    }

    /// The bytes, taken out so that the decoder holds them uniquely; `putBack` returns them.
    mutating func take() -> ByteBuffer? {
        defer { bytes = nil }
        return bytes
    }

    mutating func putBack(_ rest: ByteBuffer) {
        bytes = rest
    }

    /// Lets go of what was consumed: all of it, or its front once it has grown large.
    mutating func compact() {
        if bytes?.readableBytes == 0 {
            bytes = nil
        } else if (bytes?.readerIndex ?? 0) > 1 << 16 {
            bytes?.discardReadBytes()
        }
    }

    /// What is left, for the protocol that takes the connection over; nil when nothing is.
    mutating func takeRest() -> ByteBuffer? {
        guard let rest = take(), rest.readableBytes > 0 else { return nil }
        return rest
    }
}
