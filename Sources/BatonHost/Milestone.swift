/// Something that happens once, that any number of tasks can wait for.
struct Milestone: Sendable {
    private let stream: AsyncStream<Never>
    private let continuation: AsyncStream<Never>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Never.self)
    }

    func reach() {
        continuation.finish()
    }

    /// Returns once it is reached, or when the calling task is cancelled.
    func reached() async {
        for await _ in stream {}
    }
}
