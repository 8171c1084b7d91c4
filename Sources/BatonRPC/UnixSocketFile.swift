#if canImport(Glibc)
import Glibc
#endif

/// Prepares the place where the host's socket lives: a private directory, no live
/// host already there, and no stale file from a crashed run in the way.
public enum UnixSocketFile {
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Longest path a `sockaddr_un` can hold, including its terminating NUL.
    static let maximumPathBytes = 108

    /// Makes sure `path` can be bound: creates its directory with mode 0700 when missing,
    /// refuses a directory others can enter, refuses when a host is listening there,
    /// and removes a socket file that nobody listens on any more.
    public static func prepare(_ path: String) throws(Problem) {
        guard path.utf8.count < maximumPathBytes else {
            throw Problem(
                description:
                    "socket path \(path) is \(path.utf8.count) bytes; a unix socket path must be shorter than \(maximumPathBytes)"
            )
        }
        let directory = parentDirectory(of: path)
        try ensurePrivateDirectory(directory)
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw Problem(description: "\(path) exists and is not a socket; remove it or choose another --socket")
        }
        if isListening(path) {
            throw Problem(
                description: "another host is already listening on \(path); stop it first or choose another --socket"
            )
        }
        guard unlink(path) == 0 else {
            throw Problem(description: "cannot remove the stale socket \(path): \(errnoText())")
        }
    }

    /// A listening socket bound at `path`, mode 0600. Made here rather than by SwiftNIO, which
    /// removes the file of a socket it bound when it closes it: the file is the host's to
    /// remove at shutdown, or to leave to the next host that takes the socket over.
    public static func listen(_ path: String, backlog: Int32) throws(Problem) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Problem(description: "cannot make a socket for \(path): \(errnoText())") }
        let bound = withAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else {
            let text = errnoText()
            close(fd)
            throw Problem(description: "cannot bind \(path): \(text)")
        }
        guard chmod(path, 0o600) == 0, Glibc.listen(fd, backlog) == 0 else {
            let text = errnoText()
            close(fd)
            throw Problem(description: "cannot listen on \(path) with mode 0600: \(text)")
        }
        return fd
    }

    /// A socket connected to `path`, or nil when nobody accepts there.
    public static func connect(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        guard withAddress(path, { Glibc.connect(fd, $0, $1) }) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// The inode of the socket file, so that shutdown removes only the file it created.
    public static func inode(of path: String) -> UInt64? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }

    /// Removes the socket file if it is still the one this host bound.
    public static func remove(_ path: String, inode: UInt64?) {
        guard let inode, Self.inode(of: path) == inode else { return }
        unlink(path)
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    private static func ensurePrivateDirectory(_ directory: String) throws(Problem) {
        var info = stat()
        if stat(directory, &info) != 0 {
            guard errno == ENOENT else {
                throw Problem(description: "cannot inspect socket directory \(directory): \(errnoText())")
            }
            try makeDirectories(directory)
            guard stat(directory, &info) == 0 else {
                throw Problem(description: "cannot inspect socket directory \(directory): \(errnoText())")
            }
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw Problem(description: "\(directory) is not a directory")
        }
        guard info.st_uid == getuid() else {
            throw Problem(
                description:
                    "socket directory \(directory) belongs to uid \(info.st_uid), not to this host's uid \(getuid()); choose a --socket in a directory of your own"
            )
        }
        guard info.st_mode & 0o077 == 0 else {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            throw Problem(
                description:
                    "socket directory \(directory) has mode \(mode), so others can reach the socket; it must be 0700 (chmod 700 \(directory), or choose another --socket)"
            )
        }
    }

    private static func makeDirectories(_ directory: String) throws(Problem) {
        let parent = parentDirectory(of: directory)
        if parent != directory, access(parent, F_OK) != 0 {
            try makeDirectories(parent)
            chmod(parent, 0o700)
        }
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw Problem(description: "cannot create socket directory \(directory): \(errnoText())")
        }
        chmod(directory, 0o700)  // mkdir's mode is filtered by the umask
    }

    /// True when a connect to `path` succeeds, meaning a live process accepts there.
    static func isListening(_ path: String) -> Bool {
        guard let fd = connect(path) else { return false }
        close(fd)
        return true
    }

    private static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            raw.copyBytes(from: path.utf8.prefix(maximumPathBytes - 1))
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
