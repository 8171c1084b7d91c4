#if canImport(Glibc)
import BatonProtocol
import Glibc
#endif

/// Where the host keeps its state unless `--state` says otherwise: `/var/lib/baton` for
/// root, else `baton` under `$XDG_STATE_HOME`, else `~/.local/state/baton`; never the
/// directory a command happened to run from.
public enum StateLocation {
    public static func defaultDirectory(
        environment: [String: String] = SocketLocation.currentEnvironment(),
        uid: uid_t = getuid()
    ) -> String {
        if uid == 0 { return "/var/lib/baton" }
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/baton" }
        return (environment["HOME"] ?? "/tmp/baton-\(uid)") + "/.local/state/baton"
    }
}
