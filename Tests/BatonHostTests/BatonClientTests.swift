import BatonClient
import BatonContract
import BatonJSON
import BatonProtocol
import BatonRPC
import BatonTestSupport
import Logging
import Testing

/// `BatonClient`'s scheduler and router helpers against a real host on its socket.
@Suite("BatonClient", .timeLimit(.minutes(1)))
struct BatonClientTests {
    /// Hands each `apply` to the test, in order.
    struct Recorder: SchedulerDelegate {
        let applied: AsyncStream<[PoolMessage]>.Continuation

        func apply(_ pools: [PoolMessage]) async {
            applied.yield(pools)
        }
    }

    static let logger = Logger(label: "client-test")

    @Test func aSchedulerLinkGetsWhatChangedAndItsReportsTakeEffect() async throws {
        let backend = try await TestBackend.start(body: "linked")
        defer { Task { await backend.stop() } }
        try await withHost { harness in
            let admin = try await harness.client(.admin)
            var events = NotificationReader(admin)
            _ = try await admin.call("events.watch")
            _ = try await admin.call(
                "app.deploy",
                ["app": "shop", "version": "v1", "services": [["name": "web", "spec": ["v": 1]]]]
            )
            let link = SchedulerLink(socket: harness.socket, name: "linked", token: nil, logger: Self.logger)
            let (applied, recorder) = AsyncStream.makeStream(of: [PoolMessage].self)
            var changes = applied.makeAsyncIterator()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = await link.run(Recorder(applied: recorder)) }
                let first = try #require(await changes.next())
                #expect(first.map(\.desired) == [1])
                let pool = PoolID(first[0].pool)
                link.report(SandboxReport(sandbox: "s-1", pool: pool, state: .starting))
                link.report(SandboxReport(sandbox: "s-1", pool: pool, state: .ready, url: backend.url))
                #expect(await events.next("event") { $0["type"] == "deploy.done" } != nil)

                _ = try await admin.call("app.scale", ["app": "shop", "service": "web", "instances": 3])
                #expect(await changes.next()?.map(\.desired) == [3], "only the pool that changed")
                link.finish()
                try await group.next()
            }
        }
    }

    @Test func routerLeasesShareAndLetGoOfRevokedLeases() async throws {
        let first = try await TestBackend.start(body: "v1")
        let second = try await TestBackend.start(body: "v2")
        defer {
            Task {
                await first.stop()
                await second.stop()
            }
        }
        try await IngressTests().withStage { stage in
            try await stage.live("v1", [first])
            try await BatonSession.with(socket: stage.harness.socket, role: .router, name: "leases") { session in
                let leases = RouterLeases(session: session, slots: 2)
                var revocations = leases.revocations.makeAsyncIterator()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await leases.run(apps: ["shop"]) }
                    let a = try await leases.checkout(app: "shop")
                    let b = try await leases.checkout(app: "shop")
                    let c = try await leases.checkout(app: "shop")
                    #expect(a == b && a.lease != c.lease, "a lease serves up to its slots")
                    await leases.checkin(b)
                    await leases.checkin(c)

                    try await stage.live("v2", [second])
                    #expect(Set(await revocations.next() ?? []) == [a.lease, c.lease])
                    let moved = try await leases.checkout(app: "shop")
                    #expect(moved.version == "v2", "a revoked lease takes no new request")
                    await leases.checkin(moved)
                    await leases.checkin(a)  // the last request on v1's leases: they are released, and v1 drains
                    let done = await stage.events.next("event") { $0["type"] == "deploy.done" && $0["version"] == "v2" }
                    #expect(done != nil)
                    group.cancelAll()
                }
                await leases.close()
            }
        }
    }

    /// Renewals against the kit's stand-in host, which records them: seen as they come, not
    /// inferred from a lease that outlived its ttl on a machine that may be busy.
    @Test func routerLeasesKeepRenewingTheirLeases() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let lease = LeaseMessage(
            lease: "l-1",
            url: "http://127.0.0.1:9",
            sandbox: "s-1",
            app: "shop",
            version: "v1",
            service: "web",
            slots: 4,
            ttlMs: 300
        )
        let host = MockHost(socketPath: directory.file("host.sock")) { method, params, _ in
            switch method {
            case "host.hello": .success(["protocol": "baton/1.1", "role": "router"])
            case "lease.watch": .success(["subscription": "leases-1"])
            case "lease.acquire", "lease.renew": .success(lease.json)
            default: .success([:])
            }
        }
        try await host.start()
        let inbox = Inbox(host)
        try await BatonSession.with(socket: host.socketPath, role: .router, name: "leases") { session in
            let leases = RouterLeases(session: session)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await leases.run() }
                _ = try await leases.checkout(app: "shop")
                for _ in 1...3 {
                    // Generous: the suites start side by side on two cores, and a renewal comes every 100 ms.
                    _ = try await inbox.next(.leaseRenew, within: 30) { $0.params["lease"] == "l-1" }
                }
                group.cancelAll()
            }
            await leases.close()
        }
        await host.stop()
    }
}

/// The client READMEs show their whole example scheduler, which stays under 60 lines.
@Suite("Client READMEs")
struct ClientReadmeTests {
    @Test func theSwiftReadmeShowsTheWholeExampleScheduler() throws {
        let readme = try String(contentsOfFile: BatonProcess.repositoryPath("clients/swift/README.md"), encoding: .utf8)
        let example = try String(
            contentsOfFile: BatonProcess.repositoryPath("examples/swift-scheduler/main.swift"),
            encoding: .utf8
        )
        #expect(readme.contains("```swift\n" + example + "```"), "copy examples/swift-scheduler/main.swift into it")
        #expect(example.split(separator: "\n", omittingEmptySubsequences: false).count - 1 < 60)
    }
}
