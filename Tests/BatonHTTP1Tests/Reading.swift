import BatonHTTP1
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// What a decoder made of a byte stream, comparable across decoders: the requests it read,
/// and whether it refused what followed.
struct Reading: Equatable, CustomStringConvertible {
    struct Request: Equatable {
        var method: String
        var target: String
        var minorVersion: Int
        /// Lowercased names with their values, in order.
        var fields: [[String]]
        var body: [UInt8] = []
        var trailers: [[String]] = []
        var ended = false
    }

    var requests: [Request] = []
    var refused = false

    var description: String {
        requests.map {
            "\($0.method) \($0.target) 1.\($0.minorVersion) \($0.fields) body=\($0.body.count) trailers=\($0.trailers) ended=\($0.ended)"
        }
        .joined(separator: " | ") + (refused ? " | REFUSED" : "")
    }

    /// Baton's decoder, fed `pieces` one after the other.
    static func baton(_ pieces: [[UInt8]], limits: HeadLimits = HeadLimits()) -> (Reading, HTTP1Violation?) {
        var decoder = RequestDecoder(limits: limits)
        var buffer = ByteBuffer()
        var reading = Reading()
        for piece in pieces {
            buffer.writeBytes(piece)
            do {
                while let part = try decoder.next(&buffer) {
                    switch part {
                    case .head(let head, _):
                        reading.requests.append(
                            Request(
                                method: head.method,
                                target: head.target,
                                minorVersion: head.minorVersion,
                                fields: pairs(head.fields)
                            )
                        )
                    case .body(let body): reading.requests[reading.requests.count - 1].body += Array(buffer: body)
                    case .end(let trailers):
                        reading.requests[reading.requests.count - 1].trailers = trailers.map(pairs) ?? []
                        reading.requests[reading.requests.count - 1].ended = true
                    }
                }
                buffer.discardReadBytes()
            } catch {
                reading.refused = true
                return (reading, error)
            }
        }
        return (reading, nil)
    }

    private static func pairs(_ fields: HeadFields) -> [[String]] {
        (0..<fields.count).map { [fields.name(at: $0).lowercased(), fields.value(at: $0)] }
    }

    /// SwiftNIO's decoder (llhttp), fed `pieces` one after the other.
    static func nio(_ pieces: [[UInt8]]) -> Reading {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        var reading = Reading()
        do {
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes))
            )
            for piece in pieces {
                try channel.writeInbound(ByteBuffer(bytes: piece))
                while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
                    switch part {
                    case .head(let head):
                        reading.requests.append(
                            Request(
                                method: head.method.rawValue,
                                target: head.uri,
                                minorVersion: head.version.minor,
                                // llhttp keeps the whitespace after a value, which is not part of it (RFC 9110 §5.5).
                                fields: head.headers.map { [$0.name.lowercased(), trimmed($0.value)] }
                            )
                        )
                    case .body(let body): reading.requests[reading.requests.count - 1].body += Array(buffer: body)
                    case .end(let trailers):
                        reading.requests[reading.requests.count - 1].trailers =
                            trailers?.map { [$0.name.lowercased(), $0.value] } ?? []
                        reading.requests[reading.requests.count - 1].ended = true
                    }
                }
            }
        } catch {
            reading.refused = true
        }
        return reading
    }
}

private func trimmed(_ value: String) -> String {
    String(value.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
}

/// `bytes` cut in two at `offset`.
func split(_ bytes: [UInt8], at offset: Int) -> [[UInt8]] {
    [Array(bytes[..<offset]), Array(bytes[offset...])]
}
