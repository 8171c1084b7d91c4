#if canImport(Glibc)
import Glibc
#endif
import BatonRPC

/// Everything `baton serve` is configured with.
public struct HostConfiguration: Sendable {
    public var rpc: RPCServerConfiguration

    public init(socketPath: String = SocketLocation.defaultPath()) {
        rpc = RPCServerConfiguration(
            socketPath: socketPath, host: RPCHostInfo(name: "baton", version: BatonVersion.string))
    }

    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Requires `role` to present the token held in `path` (surrounding white space
    /// ignored). The file is read once, at start.
    public mutating func requireToken(for role: RPCRole, fromFile path: String) throws(Problem) {
        guard let file = fopen(path, "r") else {
            throw Problem(description: "cannot read the \(role) token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        let token = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        guard !token.isEmpty else { throw Problem(description: "the \(role) token file \(path) is empty") }
        rpc.roleTokens[role] = token
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
