import BatonJSON
import BatonProtocol

/// What a plugin sent to the mock host, kept in order so a case can wait for the next
/// message it cares about.
public actor Inbox {
    private var buffered: [MockHost.Inbound] = []
    /// Every message in the order it came, consumed or not.
    public private(set) var all: [MockHost.Inbound] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private var ended = false

    public init(_ host: MockHost) {
        Task { await self.consume(host.inbound) }
    }

    private func consume(_ stream: AsyncStream<MockHost.Inbound>) async {
        for await message in stream {
            buffered.append(message)
            all.append(message)
            waiter?.resume()
            waiter = nil
        }
        ended = true
        waiter?.resume()
        waiter = nil
    }

    /// The next message with `method` that `matches`, skipping others; fails the case after
    /// `seconds`.
    public func next(
        _ method: String,
        within seconds: Double = 10,
        where matches: @Sendable (MockHost.Inbound) -> Bool = { _ in true }
    )
        async throws -> MockHost.Inbound
    {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            if let index = buffered.firstIndex(where: { $0.method == method && matches($0) }) {
                let found = buffered[index]
                buffered.removeFirst(index + 1)
                return found
            }
            if ended { throw CaseFailure("the connection ended before \(method) came") }
            guard ContinuousClock.now < deadline else { throw CaseFailure("no \(method) within \(seconds) s") }
            await waitForMore(until: deadline)
        }
    }

    /// Whether a message with `method` arrives within `seconds`; for what must not happen.
    public func arrives(
        _ method: ProtocolMethod,
        within seconds: Double,
        where matches: @Sendable (MockHost.Inbound) -> Bool = { _ in true }
    ) async -> Bool {
        (try? await next(method.rawValue, within: seconds, where: matches)) != nil
    }

    public func next(
        _ method: ProtocolMethod,
        within seconds: Double = 10,
        where matches: @Sendable (MockHost.Inbound) -> Bool = { _ in true }
    ) async throws -> MockHost.Inbound {
        try await next(method.rawValue, within: seconds, where: matches)
    }

    public func next(
        _ notification: ProtocolNotification,
        within seconds: Double = 10,
        where matches: @Sendable (MockHost.Inbound) -> Bool = { _ in true }
    ) async throws -> MockHost.Inbound {
        try await next(notification.rawValue, within: seconds, where: matches)
    }

    private func waitForMore(until deadline: ContinuousClock.Instant) async {
        let wake = Task { [weak self] in
            try? await Task.sleep(until: deadline)
            await self?.wakeUp()
        }
        await withCheckedContinuation { waiter = $0 }
        wake.cancel()
    }

    private func wakeUp() {
        waiter?.resume()
        waiter = nil
    }
}
