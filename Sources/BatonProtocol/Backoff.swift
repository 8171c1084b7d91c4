/// Exponential backoff between restarts: `initial`, doubling per failure in a row, at most
/// `limit`. A success resets it.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var limit: Duration
    public private(set) var failuresInRow = 0

    public init(initial: Duration, limit: Duration) {
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

    /// Between a sandbox's crash and its replacement (PROTOCOL.md §4, Answering, scale-down and crashes).
    public static var crash: Backoff { Backoff(initial: .milliseconds(500), limit: .seconds(30)) }
    /// Between attempts to reach the host again (PROTOCOL.md §5, What a scheduler MUST do).
    public static var reconnect: Backoff { Backoff(initial: .milliseconds(100), limit: .seconds(2)) }
}
