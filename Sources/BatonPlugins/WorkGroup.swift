/// Work that synchronous code starts (an actor's method, a callback) but a task group owns:
/// `run()` runs each job as a child task until it is cancelled, then cancels the jobs still
/// running and waits for them. A job started once `run()` has ended never runs.
public final class WorkGroup: Sendable {
    public typealias Job = @Sendable () async -> Void

    private let jobs: AsyncStream<Job>
    private let input: AsyncStream<Job>.Continuation

    public init() {
        (jobs, input) = AsyncStream.makeStream(of: Job.self)
    }

    public func start(_ job: @escaping Job) {
        input.yield(job)
    }

    public func run() async {
        await withDiscardingTaskGroup { group in
            // The stream ends when this task is cancelled.
            for await job in jobs { group.addTask(operation: job) }
            group.cancelAll()
        }
    }
}
