/// A version of the protocol, `baton/MAJOR` or `baton/MAJOR.MINOR` (PROTOCOL.md §3). A minor
/// version only adds to the one before it; `baton/1` is `baton/1.0`.
public struct ProtocolVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    /// The newest version this build speaks.
    public static let current = ProtocolVersion(major: 1, minor: 2)

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public init?(_ text: String) {
        guard text.hasPrefix("baton/") else { return nil }
        let numbers = text.dropFirst("baton/".count).split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(numbers.count),
            let major = Self.number(numbers[0]),
            let minor = numbers.count == 2 ? Self.number(numbers[1]) : 0
        else { return nil }
        self.init(major: major, minor: minor)
    }

    /// Digits only, no sign or leading zero, so each version has one spelling.
    private static func number(_ digits: Substring) -> Int? {
        guard !digits.isEmpty, digits.count <= 4, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
            digits == "0" || digits.first != "0"
        else { return nil }
        return Int(digits)
    }

    /// What a host that speaks `self` agrees to with a client that asks for `asked`: the
    /// newer of them both speak, or nil for another major version.
    public func agreed(with asked: ProtocolVersion) -> ProtocolVersion? {
        asked.major == major ? min(asked, self) : nil
    }

    public var description: String { minor == 0 ? "baton/\(major)" : "baton/\(major).\(minor)" }

    public static func < (left: Self, right: Self) -> Bool { (left.major, left.minor) < (right.major, right.minor) }
}
