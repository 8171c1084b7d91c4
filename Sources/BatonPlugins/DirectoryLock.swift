import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One process per directory: an exclusive `flock` on a lock file, held for the process's life
/// (one host per state directory, one process scheduler per scheduler directory). The kernel
/// drops it when the process dies, even by kill -9, so no stale lock is left.
public final class DirectoryLock: Sendable {
    public struct Held: Error, CustomStringConvertible {
        public var description: String
    }

    public let path: String
    private let descriptor: Int32

    /// Takes the lock on `directory/file`, waiting up to `wait` for a process that is stepping
    /// down to release it. `holder` names the kind of process in the refusal.
    public static func acquire(
        directory: String,
        file: String,
        holder: String,
        wait: Duration = .zero
    ) async throws -> DirectoryLock {
        let path = directory + "/" + file
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw Held(description: "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        let deadline = ContinuousClock.now + wait
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK, ContinuousClock.now < deadline else {
                let pid =
                    (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
                        in: .whitespacesAndNewlines
                    ) ?? ""
                close(descriptor)
                throw Held(
                    description:
                        "another \(holder)\(pid.isEmpty ? "" : " (pid \(pid))") holds \(path): only one may use \(directory) at a time"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let pid = "\(getpid())\n"
        ftruncate(descriptor, 0)
        _ = pid.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        return DirectoryLock(path: path, descriptor: descriptor)
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Lets the next process in before this one exits.
    public func release() {
        flock(descriptor, LOCK_UN)
    }

    deinit {
        close(descriptor)
    }
}
