import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Finds the descriptor of one of this process's listening sockets by the address it is
/// bound to, among its open files: SwiftNIO does not hand out its channels' descriptors, and
/// a handover passes descriptors.
enum ListenerDescriptors {
    static func find(boundTo wanted: SocketAddress) -> Int32? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in entries.compactMap(Int32.init).sorted() where isListening(descriptor) {
            if let address = boundAddress(of: descriptor), address == wanted { return descriptor }
        }
        return nil
    }

    private static func isListening(_ descriptor: Int32) -> Bool {
        var accepting: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0 && accepting == 1
    }

    private static func boundAddress(of descriptor: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &size) }
        }
        guard got == 0 else { return nil }
        let family = Int32(storage.ss_family)
        return withUnsafeBytes(of: &storage) { raw -> SocketAddress? in
            switch family {
            case AF_INET:
                let address = raw.load(as: sockaddr_in.self)
                return SocketAddress(address, host: "")
            case AF_INET6:
                let address = raw.load(as: sockaddr_in6.self)
                return SocketAddress(address, host: "")
            case AF_UNIX:
                let address = raw.load(as: sockaddr_un.self)
                let path = withUnsafeBytes(of: address.sun_path) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                return try? SocketAddress(unixDomainSocketPath: path)
            default:
                return nil
            }
        }
    }
}
