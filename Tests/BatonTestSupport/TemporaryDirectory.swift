import Glibc

/// For tests: a private (0700) directory under /tmp, removed with everything in it by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    /// A directory under `parent`: /tmp, or /dev/shm for data a process syncs to disk often
    /// (etcd's), where a sync costs nothing.
    public init(under parent: String = "/tmp") {
        var template = Array("\(parent)/baton-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    public func remove() {
        let command = "rm -rf '\(path)'"
        _ = system(command)
    }
}
