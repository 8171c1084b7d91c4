import BatonTLS
import Logging
import NIOCore
import NIOEmbedded
import NIOTLS
import Testing

/// The guard in front of an HTTPS connection until its handshake is done, on an embedded
/// channel with a clock of its own.
@Suite("TLS handshake guard")
struct TLSHandshakeGuardTests {
    private func guarded(
        established: @escaping (any Channel, String?) throws -> Void = { _, _ in }
    ) throws
        -> EmbeddedChannel
    {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            TLSHandshakeGuard(
                timeout: .seconds(10),
                metrics: .disabled,
                logger: Logger(label: "test"),
                established: established
            )
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func aHandshakeNotDoneInTimeClosesTheConnection() throws {
        let channel = try guarded()
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func aQuiescingHostClosesAConnectionStillInItsHandshake() throws {
        let channel = try guarded()
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!channel.isActive, "not left open until the handshake timeout")
    }

    @Test func aDoneHandshakeBuildsThePipelineForTheProtocolAndTheGuardLeaves() throws {
        var negotiated: [String?] = []
        let channel = try guarded { _, chosen in negotiated.append(chosen) }
        channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: "h2"))
        #expect(negotiated == ["h2"])
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: TLSHandshakeGuard.self) }
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive, "no timer of the guard's outlives it")
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(channel.isActive, "a quiesce after the handshake is the protocol's to answer")
    }
}
