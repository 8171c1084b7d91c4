/// Why the state directory cannot be used; every message names the file concerned.
public struct StoreProblem: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
