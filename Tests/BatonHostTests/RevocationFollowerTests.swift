import NIOConcurrencyHelpers
import Testing

@testable import BatonCore
@testable import BatonIngress

/// The ingress's follower of lease revocations never stops silently: a stream that ends
/// because it fell behind is subscribed again and the cache resynchronised from the broker.
@Suite("Revocation follower")
struct RevocationFollowerTests {
    @Test func aStreamThatEndsIsSubscribedAgainAndResynchronised() async throws {
        let (subscriptions, subscribed) = AsyncStream.makeStream(of: AsyncStream<LeaseRevocation>.Continuation.self)
        let (resyncs, resynced) = AsyncStream.makeStream(of: Void.self)
        let seen = NIOLockedValueBox<[LeaseID]>([])
        let follower = Task {
            await LeaseCache.followRevocations(
                subscribe: {
                    let (stream, continuation) = AsyncStream.makeStream(of: LeaseRevocation.self)
                    subscribed.yield(continuation)
                    return stream
                },
                revoked: { ids, _ in seen.withLockedValue { $0 += ids.sorted() } },
                resync: { resynced.yield() }
            )
        }
        defer { follower.cancel() }
        var resync = resyncs.makeAsyncIterator()
        var subscription = subscriptions.makeAsyncIterator()
        let first = try #require(await subscription.next())
        first.yield(LeaseRevocation(leases: ["l-1"], sandbox: "s", app: "a", reason: .cutover))
        first.finish()  // as the event bus does to a subscriber that fell behind
        let second = try #require(await subscription.next(), "it subscribed again")
        _ = await resync.next()
        #expect(seen.withLockedValue { $0 } == ["l-1"])
        second.finish()
        #expect(await subscription.next() != nil, "and again, as often as it falls behind")
        _ = await resync.next()
    }
}
