#if canImport(Glibc)
import Glibc
#endif

/// For tests: a loopback port bound but not listening, so connections to it are refused and
/// no other process on the machine can take it while it is held (a port just freed could be,
/// and then a dead sandbox's address would answer again).
public final class HeldPort: Sendable {
    private let descriptor: Int32

    /// Holds `port` (SO_REUSEADDR, so connections of the server that just let it go do not
    /// stand in the way); nil when it cannot be bound.
    public init?(_ port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard bound else {
            close(fd)
            return nil
        }
        descriptor = fd
    }

    /// Holds `port` once the connections of the server that let it go have closed (a socket
    /// still connected on it stands in the way of the bind), trying for up to `seconds`.
    public static func once(_ port: Int, within seconds: Int = 10) async -> HeldPort? {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let held = HeldPort(port) { return held }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    deinit {
        close(descriptor)
    }
}
