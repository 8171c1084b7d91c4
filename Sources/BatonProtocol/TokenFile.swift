#if canImport(Glibc)
import Glibc
#endif

/// A file holding a role's token: its whole content, with surrounding white space ignored.
public enum TokenFile {
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func read(_ path: String) throws(Problem) -> String {
        guard let file = fopen(path, "r") else {
            throw Problem(description: "cannot read the token file \(path): \(String(cString: strerror(errno)))")
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
        guard !token.isEmpty else { throw Problem(description: "the token file \(path) is empty") }
        return token
    }
}

extension String {
    func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace })
        else {
            return ""
        }
        return String(self[first...last])
    }
}
