import BatonCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import BatonIngress

/// The ingress's lease cache keeps one shelf per event loop; a loop with no free slot of its
/// own takes one from another loop's shelf, and a slot given back on one loop goes to a
/// request waiting on another, so two loops never leave a sandbox's capacity idle.
@Suite("Lease cache across event loops", .timeLimit(.minutes(1)))
struct LeaseCacheLoopsTests {
    private func serving(slots: Int) async throws -> LeaseCache {
        let core = await CoreHarness()
        var events = core.events()
        let deployment = try await core.deploy("shop", "v1", services: [web(image: "a", slots: slots)])
        try await core.ready("a", pool: try await core.pool(of: deployment))
        await events.next(.deployDone)
        var logger = Logger(label: "lease-cache-test")
        logger.logLevel = .critical
        return LeaseCache(broker: core.broker, clock: core.clock, slotsPerLease: 16, logger: logger)
    }

    private func withTwoLoops(_ body: ([any EventLoop]) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        do {
            try await body(Array(group.makeIterator()))
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    @Test func aLoopWithoutAFreeSlotTakesOneOfAnotherLoopsLease() async throws {
        let cache = try await serving(slots: 4)
        try await withTwoLoops { loops in
            let (first, second) = (cache.shelf(for: loops[0]), cache.shelf(for: loops[1]))
            let lease = try await cache.checkoutNew(
                app: "shop",
                service: "web",
                wait: .zero,
                excluding: [],
                onto: first
            )
            #expect(lease.slots == 4, "the sandbox has 4 slots and the lease asks for up to 16")
            var borrowed: [Lease] = []
            for _ in 1...3 {
                borrowed.append(
                    try #require(cache.checkoutCached(app: "shop", service: "web", excluding: [], from: second))
                )
            }
            #expect(borrowed.allSatisfy { $0.id == lease.id })
            #expect(
                cache.checkoutCached(app: "shop", service: "web", excluding: [], from: second) == nil,
                "4 of 4 in use"
            )
            cache.checkin(borrowed[0], to: second)  // given back on the borrowing loop: it finds the owner
            #expect(cache.checkoutCached(app: "shop", service: "web", excluding: ["a"], from: first) == nil)
            #expect(cache.checkoutCached(app: "shop", service: "web", excluding: [], from: first)?.id == lease.id)
        }
    }

    @Test func aSlotGivenBackOnOneLoopGoesToARequestWaitingOnAnother() async throws {
        let cache = try await serving(slots: 1)
        try await withTwoLoops { loops in
            let held = try await cache.checkoutNew(
                app: "shop",
                service: "web",
                wait: .zero,
                excluding: [],
                onto: cache.shelf(for: loops[0])
            )
            let outcome = NIOLockedValueBox<Result<Lease, CoreError>?>(nil)
            try await loops[1].submit {
                let then = NIOLoopBound(
                    { (result: Result<Lease, CoreError>) in outcome.withLockedValue { $0 = result } },
                    eventLoop: loops[1]
                )
                // The broker has no free slot: only the slot given back below can serve this in time.
                cache.checkoutNew(
                    app: "shop",
                    service: "web",
                    wait: .seconds(5),
                    excluding: [],
                    onto: cache.shelf(for: loops[1]),
                    on: loops[1],
                    then: then
                )
            }.get()
            try await loops[0].submit { cache.checkin(held, to: cache.shelf(for: loops[0])) }.get()
            // A handover reaches the waiting loop before anything submitted to it after the checkin.
            try await loops[1].submit {}.get()
            #expect(
                try outcome.withLockedValue { $0 }?.get().id == held.id,
                "no slot came: the broker's clock stands still"
            )
        }
    }
}
