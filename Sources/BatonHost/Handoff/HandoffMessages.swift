import BatonJSON
import CFileDescriptorPassing

#if canImport(Glibc)
import Glibc
#endif

/// A listening socket handed from one host process to the next, named by what it serves.
struct HandedListener: Sendable {
    /// "http", "rpc" or "metrics".
    var name: String
    /// Where it is bound: "HOST:PORT", or the socket path.
    var address: String
    var descriptor: Int32
}

/// The handover's messages: one JSON line each, through jansson like the protocol, on a
/// blocking unix socket; the listening sockets ride with one of them (SCM_RIGHTS).
struct HandoffChannel {
    let descriptor: Int32
    private var buffered: [UInt8] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(descriptor: Int32, timeoutSeconds: Int) {
        self.descriptor = descriptor
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ message: JSON, descriptors: [Int32] = []) throws {
        let line = try message.serialized() + [UInt8(ascii: "\n")]
        let sent = line.withUnsafeBytes { bytes in
            descriptors.withUnsafeBufferPointer { fds in
                baton_send_with_fds(descriptor, bytes.baseAddress, bytes.count, fds.baseAddress, Int32(fds.count))
            }
        }
        guard sent == line.count else {
            throw Failure(description: "handover message not sent: \(String(cString: strerror(errno)))")
        }
    }

    /// The next line, and the descriptors that came with its bytes.
    mutating func receive() throws -> (message: JSON, descriptors: [Int32]) {
        var descriptors: [Int32] = []
        while !buffered.contains(UInt8(ascii: "\n")) {
            var chunk = [UInt8](repeating: 0, count: 4096)
            var fds = [Int32](repeating: -1, count: 8)
            var count: Int32 = 0
            let got = chunk.withUnsafeMutableBytes { bytes in
                fds.withUnsafeMutableBufferPointer {
                    baton_receive_with_fds(descriptor, bytes.baseAddress, bytes.count, $0.baseAddress, 8, &count)
                }
            }
            descriptors += fds.prefix(Int(count))
            guard got > 0 else {
                throw Failure(
                    description: got == 0
                        ? "the other host closed the handover"
                        : "handover read failed: \(String(cString: strerror(errno)))"
                )
            }
            buffered += chunk.prefix(got)
        }
        let end = buffered.firstIndex(of: UInt8(ascii: "\n"))!
        let line = Array(buffered[..<end])
        buffered.removeFirst(end + 1)
        return (try JSON.parse(line), descriptors)
    }
}
