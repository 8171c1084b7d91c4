/// Exponential backoff between restarts: `initial`, doubling per failure in a row, at most
/// `limit`. A success resets it.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var limit: Duration
    public private(set) var failuresInRow = 0

    public init(initial: Duration = .milliseconds(500), limit: Duration = .seconds(30)) {
        self.initial = initial
        self.limit = limit
    }

    /// Counts one more failure and returns how long to wait before the next try.
    public mutating func failed() -> Duration {
        failuresInRow += 1
        let doublings = min(failuresInRow - 1, 16)
        return min(initial * (1 << doublings), limit)
    }

    public mutating func succeeded() {
        failuresInRow = 0
    }
}
