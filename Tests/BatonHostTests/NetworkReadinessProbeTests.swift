import BatonCore
import BatonProbe
import BatonTestSupport
import NIOPosix
import Testing

/// The host's own readiness check against real sockets.
@Suite("Network readiness probe", .timeLimit(.minutes(1)))
struct NetworkReadinessProbeTests {
    // Generous: a check that answers must not time out on a busy machine; failures here come fast.
    private let probe = NetworkReadinessProbe(group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(20))

    @Test func aListeningSocketPassesWithoutAHealthPath() async throws {
        let backend = try await TestBackend.start()
        defer { Task { await backend.stop() } }
        #expect(await probe.isReady(url: backend.url, health: nil))
    }

    @Test func aHealthPathMustAnswer2xx() async throws {
        let healthy = try await TestBackend.start(status: 204)
        let broken = try await TestBackend.start(status: 503)
        defer { Task { await healthy.stop(); await broken.stop() } }
        #expect(await probe.isReady(url: healthy.url, health: HealthCheck(path: "/healthz")))
        #expect(await !probe.isReady(url: broken.url, health: HealthCheck(path: "/healthz")))
    }

    @Test func aClosedPortOrABadURLFails() async throws {
        let backend = try await TestBackend.start()
        let url = backend.url
        await backend.stop()
        #expect(await !probe.isReady(url: url, health: nil))
        #expect(await !probe.isReady(url: "ftp://127.0.0.1:21", health: nil))
        #expect(await !probe.isReady(url: "http://", health: nil))
    }

    @Test func endpointsAreParsed() {
        let full = SandboxEndpoint("http://127.0.0.1:8080/x")
        #expect(full?.host == "127.0.0.1" && full?.port == 8080)
        let bare = SandboxEndpoint("http://localhost")
        #expect(bare?.host == "localhost" && bare?.port == 80)
        #expect(SandboxEndpoint("http://h:0") == nil)
        #expect(SandboxEndpoint("http://:80") == nil)
    }
}
