import NIOConcurrencyHelpers

/// What a method body leaves for once its answer is written (or, for a notification, once it
/// has taken effect): a subscription's notifications must not come before the result that
/// names the subscription. Run once, on the connection's event loop; a connection that closes
/// first never runs it.
public final class RPCAfterAnswer: Sendable {
    private let jobs = NIOLockedValueBox<[@Sendable () -> Void]>([])

    init() {}

    public func add(_ job: @escaping @Sendable () -> Void) {
        jobs.withLockedValue { $0.append(job) }
    }

    func run() {
        for job in jobs.withLockedValue({ jobs in
            defer { jobs = [] }
            return jobs
        }) { job() }
    }
}
