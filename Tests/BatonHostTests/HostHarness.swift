import BatonHost
import BatonJSON
import BatonRPC
import BatonTestSupport
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// A host in this process on a private socket, with clients in each role; everything
/// it starts, and every client it opened, is stopped by `withHost`, however the body ends.
struct HostHarness {
    let host: BatonHost
    let socket: String
    let stateDirectory: String
    private let opened = NIOLockedValueBox<[RPCClient]>([])

    init(host: BatonHost, socket: String, stateDirectory: String) {
        self.host = host
        self.socket = socket
        self.stateDirectory = stateDirectory
    }

    /// An admin, a scheduler named `scheduler` and a router, each with its session open.
    func clients(
        scheduler name: String = "scripted"
    ) async throws -> (admin: RPCClient, scheduler: RPCClient, router: RPCClient) {
        (try await client(.admin), try await client(.scheduler, name: name), try await client(.router))
    }

    func client(_ role: RPCRole, name: String = "test") async throws -> RPCClient {
        let client = try await RPCClient.connect(socketPath: socket)
        opened.withLockedValue { $0.append(client) }
        try await client.hello(role: role, client: RPCProgramInfo(name: name, version: "1"))
        return client
    }

    fileprivate func closeClients() async {
        for client in opened.withLockedValue({ $0 }) { await client.close() }
    }
}

func withHost<T>(
    configure: (inout HostConfiguration) -> Void = { _ in },
    _ body: (HostHarness) async throws -> T
) async throws -> T {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    var configuration = HostConfiguration(socketPath: directory.file("baton.sock"))
    configuration.stateDirectory = directory.file("state")
    // Scripted schedulers run no processes and never report them stopped; the suites that
    // run real sandboxes turn this back on.
    configuration.stopsSandboxesAtExit = false
    // The suites run side by side on two cores; a hello must not time out because a busy
    // neighbour held the event loops (no test here is about the hello timeout).
    configuration.rpc.helloTimeout = .seconds(60)
    configure(&configuration)
    var logger = Logger(label: "host-test")
    logger.logLevel = .critical
    let host = BatonHost(configuration: configuration, logger: logger)
    try await host.prepare()
    let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: host.services, logger: logger))
    let harness = HostHarness(
        host: host,
        socket: configuration.rpc.socketPath,
        stateDirectory: configuration.stateDirectory
    )
    return try await withThrowingTaskGroup(of: HostMilestone.self) { parts in
        parts.addTask {
            try await group.run()
            return .ended
        }
        parts.addTask {
            await host.listening()
            return .listening
        }
        guard try await parts.next() == .listening else { throw HostEndedEarly() }
        do {
            let result = try await body(harness)
            await harness.closeClients()
            await group.triggerGracefulShutdown()
            try await parts.waitForAll()
            return result
        } catch {
            await harness.closeClients()
            await group.triggerGracefulShutdown()
            try? await parts.waitForAll()
            throw error
        }
    }
}

private enum HostMilestone: Sendable {
    case listening
    case ended
}

private struct HostEndedEarly: Error, CustomStringConvertible {
    var description: String { "the host's group ended before it listened" }
}

/// Reads a client's notifications in order, skipping those a test does not wait for.
struct NotificationReader {
    private var iterator: AsyncStream<RPCNotification>.Iterator

    init(_ client: RPCClient) {
        iterator = client.notifications.makeAsyncIterator()
    }

    mutating func next(_ method: String, where matches: (JSON) -> Bool = { _ in true }) async -> JSON? {
        while let notification = await iterator.next() {
            if notification.method == method, let params = notification.params, matches(params) { return params }
        }
        return nil
    }
}
