import Testing

@testable import BatonHost

/// The subscriptions book on its own: replacement, an end that means falling behind, close.
@Suite("Subscription book")
struct SubscriptionBookTests {
    struct Handle: SubscriptionHandle, Equatable {
        var id: Int
        var subscription: String { "sub-\(id)" }
    }

    @Test func aSecondSubscriptionReplacesTheFirstWhoseEndThenMeansNothing() {
        var book = SubscriptionBook<Handle>()
        #expect(book.subscribed(session: "s", method: "events", handle: Handle(id: 1)).isEmpty)
        let replaced = book.subscribed(session: "s", method: "events", handle: Handle(id: 2))
        #expect(replaced.count == 1)
        if case .cancel(let old) = replaced.first { #expect(old.id == 1) } else { Issue.record("expected a cancel") }
        #expect(
            book.streamEnded(session: "s", method: "events", handle: 1).isEmpty,
            "a replaced subscription ends quietly"
        )
        #expect(book.subscribed(session: "s", method: "leases", handle: Handle(id: 3)).isEmpty, "methods are apart")
    }

    @Test func anUnsubscribedSubscriptionIsCancelledOnceAndItsEndMeansNothing() {
        var book = SubscriptionBook<Handle>()
        _ = book.subscribed(session: "s", method: "events", handle: Handle(id: 1))
        _ = book.subscribed(session: "s", method: "leases", handle: Handle(id: 2))
        let ended = book.unsubscribed(session: "s", subscription: "sub-1")
        if case .cancel(let handle) = ended.first { #expect(handle.id == 1) } else { Issue.record("expected a cancel") }
        #expect(book.unsubscribed(session: "s", subscription: "sub-1").isEmpty, "twice is fine")
        #expect(book.unsubscribed(session: "other", subscription: "sub-2").isEmpty, "only the session's own")
        #expect(book.streamEnded(session: "s", method: "events", handle: 1).isEmpty)
        #expect(book.sessionClosed("s").count == 1, "the other subscription lives on")
    }

    @Test func theEndOfALiveStreamClosesItsSession() {
        var book = SubscriptionBook<Handle>()
        _ = book.subscribed(session: "s", method: "events", handle: Handle(id: 1))
        let ended = book.streamEnded(session: "s", method: "events", handle: 1)
        if case .closeSession(let reason) = ended.first {
            #expect(reason == "events subscription fell too far behind")
        } else {
            Issue.record("expected the session to be closed, got \(ended)")
        }
        #expect(book.sessionCount == 0)
    }

    @Test func aClosedSessionCancelsEverySubscriptionOnce() {
        var book = SubscriptionBook<Handle>()
        _ = book.subscribed(session: "s", method: "events", handle: Handle(id: 1))
        _ = book.subscribed(session: "s", method: "leases", handle: Handle(id: 2))
        _ = book.subscribed(session: "t", method: "events", handle: Handle(id: 3))
        #expect(book.sessionClosed("s").count == 2)
        #expect(book.sessionClosed("s").isEmpty)
        #expect(book.streamEnded(session: "s", method: "events", handle: 1).isEmpty, "after close, ends are quiet")
        #expect(book.sessionCount == 1)
    }
}
