#if canImport(Glibc)
import Glibc
#endif

/// Where the host's socket lives unless `--socket` says otherwise: `$BATON_SOCKET`
/// when set, else `baton/baton.sock` under `$XDG_RUNTIME_DIR`, else
/// `/tmp/baton-UID/baton.sock`. `baton serve` and every client use the same rule.
public enum SocketLocation {
    public static func defaultPath(environment: [String: String] = currentEnvironment()) -> String {
        if let explicit = environment["BATON_SOCKET"], !explicit.isEmpty { return explicit }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/baton/baton.sock" }
        return "/tmp/baton-\(getuid())/baton.sock"
    }

    public static func currentEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let pair = String(cString: entry)
            if let equals = pair.firstIndex(of: "=") {
                result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }
}
