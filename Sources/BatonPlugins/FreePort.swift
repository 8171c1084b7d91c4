#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP port nobody listens on right now, for a child (a sandbox, a router under test)
/// to bind. It comes from below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`):
/// a port from that range may become any outgoing connection's source port, or any bind to
/// port 0, between the pick and the child's bind.
public enum FreePort {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Where picks come from when the ephemeral range leaves room below it.
    static let lowest = 10_000

    public static func pick() throws -> Int {
        let ephemeral = ephemeralRange()
        if ephemeral.lowerBound - lowest >= 1_000 {
            for _ in 0..<64 {
                let port = Int.random(in: lowest..<ephemeral.lowerBound)
                if (try? bind(port: port)) != nil { return port }
            }
        }
        return try bind(port: 0)  // the kernel's pick, from the ephemeral range
    }

    /// The kernel's ephemeral port range, or Linux's default when it cannot be read.
    static func ephemeralRange() -> ClosedRange<Int> {
        guard let file = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r") else { return 32_768...60_999 }
        defer { fclose(file) }
        var low: Int32 = 0
        var high: Int32 = 0
        guard readPair(file, &low, &high), low > 0, high >= low else { return 32_768...60_999 }
        return Int(low)...Int(high)
    }

    private static func readPair(_ file: UnsafeMutablePointer<FILE>, _ low: inout Int32, _ high: inout Int32) -> Bool {
        var line = [CChar](repeating: 0, count: 64)
        guard fgets(&line, Int32(line.count), file) != nil else { return false }
        let fields = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int32($0) }
        guard fields.count == 2 else { return false }
        (low, high) = (fields[0], fields[1])
        return true
    }

    /// Binds `port` (0: any) on loopback and closes the socket again; returns the port bound.
    private static func bind(port: Int) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        address.sin_port = UInt16(port).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                Glibc.bind(fd, sockaddrPointer, length) == 0 && getsockname(fd, sockaddrPointer, &length) == 0
            }
        }
        guard bound else { throw Failure(description: "bind: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
