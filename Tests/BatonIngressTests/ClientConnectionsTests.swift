import NIOCore
import NIOEmbedded
import Testing

@testable import BatonIngress

/// What a handing-over host relies on to let its client connections finish: each is told to
/// quiesce, and the wait for them ends when the last closes, at the deadline, or when the
/// waiter is cancelled, whichever comes first. A wait that never ends fails by the time limit.
@Suite("Client connections", .timeLimit(.minutes(1)))
struct ClientConnectionsTests {
    private final class QuiesceCount: ChannelInboundHandler {
        typealias InboundIn = Never
        var told = 0

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent { told += 1 }
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func connection(to connections: ClientConnections) throws -> (EmbeddedChannel, QuiesceCount) {
        let count = QuiesceCount()
        let channel = EmbeddedChannel(handler: count)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        connections.add(channel)
        return (channel, count)
    }

    @Test func aQuiesceReachesTheOpenConnectionsAndEveryOneAcceptedAfterIt() throws {
        let connections = ClientConnections()
        let (open, openCount) = try connection(to: connections)
        open.embeddedEventLoop.run()
        #expect(openCount.told == 0, "no quiesce before the host asks")
        connections.quiesce()
        open.embeddedEventLoop.run()
        let (late, lateCount) = try connection(to: connections)
        late.embeddedEventLoop.run()
        #expect(openCount.told == 1)
        #expect(lateCount.told == 1, "accepted while quiescing: told at once")
    }

    /// For the waits, which hop threads: an embedded channel may only be used on one.
    private func asyncConnection(to connections: ClientConnections) async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        connections.add(channel)
        return channel
    }

    @Test func theWaitEndsWhenTheLastConnectionCloses() async throws {
        let connections = ClientConnections()
        let (first, second) = (try await asyncConnection(to: connections), try await asyncConnection(to: connections))
        async let closed: Void = connections.allClosed(within: .seconds(3_600))
        try await first.close()
        try await second.close()
        await closed
    }

    @Test func theWaitEndsAtTheDeadlineWithAConnectionStillOpen() async throws {
        let connections = ClientConnections()
        let open = try await asyncConnection(to: connections)
        await connections.allClosed(within: .milliseconds(10))
        #expect(open.isActive)
    }

    @Test func aCancelledWaiterReturnsAtOnceAndALaterWaitStillEndsAtTheClose() async throws {
        let connections = ClientConnections()
        let open = try await asyncConnection(to: connections)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await connections.allClosed(within: .seconds(3_600)) }
            group.cancelAll()
            await group.waitForAll()
        }
        #expect(open.isActive)
        async let other: Void = connections.allClosed(within: .seconds(3_600))
        try await open.close()
        await other
    }
}
