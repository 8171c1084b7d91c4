/// Why bytes a peer sent are not HTTP/1.1 the proxy will forward (RFC 9112, RFC 9110), with
/// the status a client gets for it. Nothing after such bytes is read on that connection.
public enum HTTP1Violation: Error, Equatable, Sendable {
    case headTooLarge
    case tooManyFields
    case badRequestLine
    case badStatusLine
    case unsupportedVersion
    case bareLineFeed
    case bareCarriageReturn
    case obsoleteLineFolding
    case whitespaceBeforeColon
    case badFieldName
    case badFieldValue
    case contentLengthWithTransferEncoding
    case badContentLength
    case transferEncodingInHTTP10
    case chunkedNotFinal
    case unsupportedTransferEncoding
    case badChunkSize
    case chunkSizeOverflow
    case badChunkExtension
    case chunkExtensionTooLong
    case missingChunkDataEnd
    case trailersTooLarge

    /// The status a client gets when its request breaks this rule.
    public var status: UInt16 {
        switch self {
        case .headTooLarge, .tooManyFields, .trailersTooLarge: 431
        case .unsupportedVersion: 505
        case .unsupportedTransferEncoding: 501
        default: 400
        }
    }

    /// What was wrong, as the end of "The request was refused: …".
    public var reason: String {
        switch self {
        case .headTooLarge: "its head is larger than the limit"
        case .tooManyFields: "its head has more header fields than the limit"
        case .badRequestLine: "its request line is not METHOD SP target SP HTTP/1.x"
        case .badStatusLine: "its status line is not HTTP/1.x SP status SP reason"
        case .unsupportedVersion: "only HTTP/1.0 and HTTP/1.1 are served"
        case .bareLineFeed: "a line ends in LF without CR"
        case .bareCarriageReturn: "a CR is not followed by LF"
        case .obsoleteLineFolding: "a header field is folded over lines (obs-fold)"
        case .whitespaceBeforeColon: "a header field name is followed by whitespace before its colon"
        case .badFieldName: "a header field name is empty or not a token"
        case .badFieldValue: "a header field value holds a control character"
        case .contentLengthWithTransferEncoding: "it has both Transfer-Encoding and Content-Length"
        case .badContentLength: "its Content-Length is not one decimal number"
        case .transferEncodingInHTTP10: "HTTP/1.0 has no Transfer-Encoding"
        case .chunkedNotFinal: "chunked is not the final transfer coding"
        case .unsupportedTransferEncoding: "only the chunked transfer coding is supported"
        case .badChunkSize: "a chunk size is not a hexadecimal number"
        case .chunkSizeOverflow: "a chunk size is larger than 2^63 - 1"
        case .badChunkExtension: "a chunk extension holds a control character"
        case .chunkExtensionTooLong: "a chunk size line is longer than the limit"
        case .missingChunkDataEnd: "a chunk's data is not followed by CRLF"
        case .trailersTooLarge: "its trailer section is larger than the limit"
        }
    }
}
