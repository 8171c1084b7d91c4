import Foundation

/// Processes on this machine, read from /proc: how a test finds the sandboxes a scheduler
/// started, to kill one or to check that none is left.
public enum ProcessTable {
    /// Pids whose command line contains `marker`.
    public static func pids(withArgument marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != getpid(),
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return nil }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.contains(where: { $0.contains(marker) }) && !isZombie(pid) ? pid : nil
        }.sorted()
    }

    /// The children of `parent` (this process by default) whose command line contains `marker`.
    public static func children(withArgument marker: String, of parent: Int32 = getpid()) -> [Int32] {
        pids(withArgument: marker).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else {
                return false
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }

    /// Whether `pid` is still running (a zombie is not).
    public static func isRunning(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 && !isZombie(pid)
    }

    private static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
    }
}
