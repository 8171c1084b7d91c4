/// The range of every number and the shape of every name the core takes from outside,
/// declared once: the protocol's parsers quote them in their errors, and the core checks
/// them again before anything is applied or stored, so no arithmetic on a deadline can
/// overflow and nothing the host stored can fail to load.
public enum WireLimits {
    /// Ready, drain and request timeouts: up to a week.
    public static let timeoutMs: ClosedRange<Int64> = 0...604_800_000
    /// How long `lease.acquire` may wait for a slot: up to an hour.
    public static let leaseWaitMs: ClosedRange<Int64> = 0...3_600_000
    public static let instances: ClosedRange<Int64> = 1...10_000
    public static let slots: ClosedRange<Int64> = 1...65_536
    /// Longest app, version, service, scheduler or sandbox name, in bytes.
    public static let nameBytes = 128
    /// Longest reason a scheduler may give for a sandbox's state, in bytes.
    public static let reasonBytes = 1_024
    /// Longest host name a route may name (RFC 1035).
    public static let hostBytes = 253
    /// Longest path prefix a route may name, in bytes.
    public static let pathPrefixBytes = 1_024
    /// Longest path of a certificate or key file a route may name, in bytes.
    public static let filePathBytes = 4_096
    /// How long `Strict-Transport-Security` may tell browsers to keep to HTTPS: up to two years.
    public static let hstsMaxAge: ClosedRange<Int64> = 0...63_072_000

    /// Whether `value` can name an app, a version, a service, a scheduler or a sandbox:
    /// visible ASCII, no spaces, no control bytes, so it is safe in logs, metric labels,
    /// HTTP headers and the store alike.
    public static func isName(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= nameBytes && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    public static func isName<Kind>(_ value: Identifier<Kind>) -> Bool {
        isName(value.rawValue)
    }

    /// Whether `value` can be a sandbox's URL: `http://host[:port]`, visible ASCII only.
    public static func isSandboxURL(_ value: String) -> Bool {
        value.utf8.count <= 2_048 && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } && SandboxEndpoint(value) != nil
    }

    /// Whether `value` can be a route's host: letters, digits, `-`, `.` and `_`.
    public static func isHost(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= hostBytes
            && value.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default: byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                }
            }
    }

    /// Whether `value` can be a route's path prefix: empty, or `/` and segments of letters,
    /// digits and `-._~!$&'()*+,;=:@`, none empty, `.` or `..`. A prefix matches the path as
    /// sent, so it has nothing a client could spell two ways (no `%`, no dot segment).
    public static func isPathPrefix(_ value: String) -> Bool {
        guard !value.isEmpty else { return true }
        guard value.utf8.count <= pathPrefixBytes, value.hasPrefix("/") else { return false }
        return value.dropFirst().split(separator: "/", omittingEmptySubsequences: false).allSatisfy { segment in
            !segment.isEmpty && segment != "." && segment != ".."
                && segment.utf8.allSatisfy { byte in
                    switch byte {
                    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                        UInt8(ascii: "0")...UInt8(ascii: "9"):
                        true
                    default: "-._~!$&'()*+,;=:@".utf8.contains(byte)
                    }
                }
        }
    }

    /// Whether `value` can name a file a route reads: an absolute path of visible ASCII.
    public static func isFilePath(_ value: String) -> Bool {
        value.hasPrefix("/") && value.utf8.count <= filePathBytes && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
