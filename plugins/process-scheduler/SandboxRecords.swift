import BatonJSON
import Foundation

/// The sandboxes this scheduler runs, kept in a file so that a scheduler restarted after a
/// crash finds them again instead of starting them twice. A pid alone is not proof: the
/// process's start time must match too, or the pid was reused by something else.
struct SandboxRecord: Sendable, Hashable {
    var sandbox: String
    var pool: String
    var pid: Int32
    var url: String
    var startTime: UInt64

    static func load(from path: String) -> [SandboxRecord] {
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSON.parse(data) else { return [] }
        return (json["sandboxes"]?.arrayValue ?? []).compactMap { entry in
            guard let sandbox = entry["sandbox"]?.stringValue, let pool = entry["pool"]?.stringValue,
                let pid = entry["pid"]?.intValue, let url = entry["url"]?.stringValue,
                let start = entry["startTime"]?.intValue
            else { return nil }
            return SandboxRecord(sandbox: sandbox, pool: pool, pid: Int32(pid), url: url, startTime: UInt64(start))
        }
    }

    /// Writes the whole list: a new file renamed over the old, so a crash never leaves half.
    static func save(_ records: [SandboxRecord], to path: String) throws {
        let json: JSON = [
            "sandboxes": .array(
                records.map {
                    [
                        "sandbox": .string($0.sandbox), "pool": .string($0.pool), "pid": .int(Int64($0.pid)),
                        "url": .string($0.url),
                        "startTime": .int(Int64($0.startTime)),
                    ]
                }
            )
        ]
        let temporary = path + ".new"
        try Data(try json.serialized()).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// Whether the recorded process is still the one that runs under that pid.
    var isAlive: Bool {
        ProcessStart.time(of: pid) == startTime
    }
}

enum ProcessStart {
    /// The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or
    /// nil when there is no such process or it is a zombie.
    static func time(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else {
            return nil
        }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3), so field 22 is fields[19].
        guard fields.count > 19, fields[0] != "Z" else { return nil }
        return UInt64(fields[19])
    }
}
