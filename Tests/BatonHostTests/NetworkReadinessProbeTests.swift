import BatonCore
import BatonProbe
import BatonProtocol
import BatonTestSupport
import Glibc
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
        defer {
            Task {
                await healthy.stop()
                await broken.stop()
            }
        }
        #expect(await probe.isReady(url: healthy.url, health: HealthCheck(path: "/healthz")))
        #expect(await !probe.isReady(url: broken.url, health: HealthCheck(path: "/healthz")))
    }

    @Test func aClosedPortOrABadURLFails() async throws {
        // A port bound but not listening refuses connections, and no other process on the
        // machine can take it while it is held (a port just freed could be).
        let held = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(held) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(held, $0, size) == 0 && getsockname(held, $0, &size) == 0
            }
        }
        #expect(bound)
        #expect(await !probe.isReady(url: "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))", health: nil))
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
