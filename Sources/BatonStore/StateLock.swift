import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One host per state directory: an exclusive `flock` on `baton.lock`, held for the process's
/// life. The kernel drops it when the process dies, even by kill -9, so no stale lock is left.
public final class StateLock: Sendable {
    public let path: String
    private let descriptor: Int32

    /// Takes the lock, waiting up to `wait` for a host that is stepping down to release it.
    public static func acquire(directory: String, wait: Duration = .zero) async throws -> StateLock {
        let path = directory + "/baton.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StoreProblem("cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
        let deadline = ContinuousClock.now + wait
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK, ContinuousClock.now < deadline else {
                let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                close(descriptor)
                throw StoreProblem(
                    "another baton serve\(holder.isEmpty ? "" : " (pid \(holder))") holds \(path): one host per state directory")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let pid = "\(getpid())\n"
        ftruncate(descriptor, 0)
        _ = pid.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        return StateLock(path: path, descriptor: descriptor)
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Lets the next host in before this process exits.
    public func release() {
        flock(descriptor, LOCK_UN)
    }

    deinit {
        close(descriptor)
    }
}
