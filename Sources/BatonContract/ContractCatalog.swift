/// Every case of the three kits, with the rule it checks: `baton contract list` prints it, and
/// PROTOCOL.md holds it as a table (checked by a test). Each transcript in
/// `protocol/transcripts` is a host case of its own besides these.
public enum ContractCatalog {
    public struct Entry: Sendable {
        public var kit: String
        public var name: String
        public var requirement: Requirement
        public var section: String
    }

    public static var entries: [Entry] {
        func entries<Context>(_ kit: String, _ cases: [ContractCase<Context>]) -> [Entry] {
            cases.map { Entry(kit: kit, name: $0.name, requirement: $0.requirement, section: $0.section) }
        }
        return entries("host", HostKit(socket: "", transcripts: []).cases)
            + entries("scheduler", SchedulerKit(command: [], fixtureCommand: []).cases)
            + entries("router", RouterKit(command: []).cases)
    }

    public static var markdownTable: String {
        var lines = ["| kit | case | level | rule |", "|---|---|---|---|"]
        for entry in entries {
            lines.append("| \(entry.kit) | `\(entry.name)` | \(entry.requirement.rawValue) | \(entry.section) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
