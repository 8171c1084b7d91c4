import BatonProtocol
import BatonRPC

/// Messages kept in the order they came, so a case can wait for the next one it cares about:
/// what a plugin sent the stand-in host, a client's notifications, a transcript's lines.
public actor Mailbox<Item: Sendable> {
    private var buffered: [Item] = []
    /// Every message in the order it came, taken or not.
    public private(set) var all: [Item] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private var feed = Feed.open

    private enum Feed {
        case open, ended
    }
    /// What is wrong with a message that came, by `check`: every later wait fails with it.
    private var broken: String?

    /// Collects `items` until they end; the collecting task lives exactly as long as they do.
    /// `check` says what is wrong with a message, if anything.
    public init<Items: AsyncSequence & Sendable>(
        _ items: Items,
        check: @escaping @Sendable (Item) -> String? = { _ in nil }
    ) where Items.Element == Item, Items.Failure == Never {
        // An actor cannot run a child task past its init; this one ends with `items`.
        Task { await self.collect(items, check: check) }
    }

    private func collect<Items: AsyncSequence>(_ items: Items, check: (Item) -> String?) async
    where Items.Element == Item, Items.Failure == Never {
        for await item in items {
            broken = broken ?? check(item)
            buffered.append(item)
            all.append(item)
            wakeUp()
        }
        feed = .ended
        wakeUp()
    }

    /// The next message that `matches`, skipping others; fails the case after `seconds`.
    /// `what` names it in the failure.
    public func next(
        _ what: String,
        within seconds: Double,
        matching matches: @Sendable (Item) -> Bool
    ) async throws -> Item {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            if let broken { throw CaseFailure(broken) }
            if let index = buffered.firstIndex(where: matches) {
                let found = buffered[index]
                buffered.removeFirst(index + 1)
                return found
            }
            if feed == .ended { throw CaseFailure("the connection ended before \(what) came") }
            guard ContinuousClock.now < deadline else { throw CaseFailure("no \(what) within \(seconds) s") }
            await waitForMore(until: deadline)
        }
    }

    /// Forgets what came and was not taken: later waits match only what comes after.
    public func skipBuffered() {
        buffered.removeAll()
    }

    private func waitForMore(until deadline: ContinuousClock.Instant) async {
        // The timer is a child of this wait: cancelled, and gone, as soon as the wait ends.
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                guard (try? await Task.sleep(until: deadline)) != nil else { return }
                await self.wakeUp()
            }
            await withCheckedContinuation { waiter = $0 }
            group.cancelAll()
        }
    }

    private func wakeUp() {
        waiter?.resume()
        waiter = nil
    }
}

/// What a plugin sent the stand-in host, or what a host pushed to a client.
public typealias Inbox = Mailbox<MockHost.Inbound>

extension Mailbox where Item == MockHost.Inbound {
    public init(_ host: MockHost) {
        self.init(host.inbound)
    }

    /// A client's notifications, read the same way as a plugin's calls; with `schemas`, each one
    /// is checked against its notification schema.
    public init(notifications: AsyncStream<RPCNotification>, schemas: SchemaValidator? = nil) {
        self.init(
            notifications.map { MockHost.Inbound(connection: 0, method: $0.method, params: $0.params ?? .null) },
            check: { message in
                guard
                    let problems = schemas?.problems(
                        message.params,
                        file: "\(message.method).notification.schema.json"
                    ),
                    !problems.isEmpty
                else { return nil }
                return "a \(message.method) notification breaks its schema: \(problems.joined(separator: "; "))"
            }
        )
    }

    public func next(
        _ method: String,
        within seconds: Double = 10,
        where matches: @escaping @Sendable (Item) -> Bool = { _ in true }
    ) async throws -> Item {
        try await next(method, within: seconds, matching: { $0.method == method && matches($0) })
    }

    public func next(
        _ method: ProtocolMethod,
        within seconds: Double = 10,
        where matches: @escaping @Sendable (Item) -> Bool = { _ in true }
    ) async throws -> Item {
        try await next(method.rawValue, within: seconds, where: matches)
    }

    public func next(
        _ notification: ProtocolNotification,
        within seconds: Double = 10,
        where matches: @escaping @Sendable (Item) -> Bool = { _ in true }
    ) async throws -> Item {
        try await next(notification.rawValue, within: seconds, where: matches)
    }

    /// Whether a message with `method` arrives within `seconds`; for what must not happen.
    public func arrives(
        _ method: ProtocolMethod,
        within seconds: Double,
        where matches: @escaping @Sendable (Item) -> Bool = { _ in true }
    ) async -> Bool {
        (try? await next(method, within: seconds, where: matches)) != nil
    }
}
