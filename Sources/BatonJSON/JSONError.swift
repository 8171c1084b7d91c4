/// Why a byte sequence is not acceptable JSON, and where: jansson's own text plus
/// the line, column (in characters) and byte position of the problem.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var text: String
    public var line: Int
    public var column: Int
    public var position: Int

    public init(text: String, line: Int, column: Int, position: Int) {
        self.text = text
        self.line = line
        self.column = column
        self.position = position
    }

    public var description: String {
        "\(text) (line \(line), column \(column), position \(position))"
    }
}

/// Why a value cannot be written as JSON.
public enum JSONEncodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// NaN and the infinities have no JSON spelling.
    case nonFiniteReal(Double)
    /// jansson could not allocate or refused a node.
    case encoderFailed(String)

    public var description: String {
        switch self {
        case .nonFiniteReal(let value): "\(value) cannot be written as JSON: only finite numbers can"
        case .encoderFailed(let detail): "JSON encoding failed: \(detail)"
        }
    }
}
