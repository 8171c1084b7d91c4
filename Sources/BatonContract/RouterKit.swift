import BatonJSON
import BatonPlugins
import BatonProtocol
import BatonRPC
import Foundation
import NIOConcurrencyHelpers

/// `baton contract router -- CMD`: a mock host handing out leases on the kit's own
/// backends, the router started with `BATON_APP` and `PORT`, and HTTP sent through it to
/// check the router rules of PROTOCOL.md §4 (Router role).
public struct RouterKit: Sendable {
    public var command: [String]

    public init(command: [String]) {
        self.command = command
    }

    struct Leases {
        var next = 0
        var issued: [String: String] = [:]  // lease -> sandbox
        var released: Set<String> = []
        var revoked: Set<String> = []
        var invalidated: Set<String> = []
        var preferred = "a"
        var watch: (connection: Int, id: String)?
    }

    public final class Context: Sendable {
        let directory: CaseDirectory
        let host: MockHost
        let inbox: Inbox
        let backends: [String: FixtureServer]
        let plugin: PluginUnderTest
        let leases: NIOLockedValueBox<Leases>
        let port: Int

        init(kit: RouterKit) async throws {
            directory = try CaseDirectory()
            let a = try await FixtureServer.start(name: "a")
            let b = try await FixtureServer.start(name: "b")
            let backends = ["a": a, "b": b]
            self.backends = backends
            let leases = NIOLockedValueBox(Leases())
            self.leases = leases
            let urls = backends.mapValues(\.url)
            host = MockHost(socketPath: directory.path + "/host.sock") { method, params, connection in
                if method == RPCHandshake.helloMethod { return .success(Kit.hello(params)) }
                switch ProtocolMethod(rawValue: method) {
                case .hostPing: return .success([:])
                case .leaseAcquire: return Self.acquire(params, leases: leases, urls: urls)
                case .leaseRenew:
                    // As the real host: a released, revoked or unknown lease is gone.
                    let id = params["lease"]?.stringValue ?? ""
                    return leases.withLockedValue { state in
                        guard state.issued[id] != nil, !state.released.contains(id), !state.revoked.contains(id) else {
                            return .failure(RPCError(.leaseGone, message: "Lease gone: \(id)"))
                        }
                        return .success(["lease": .string(id), "ttlMs": 30_000])
                    }
                case .leaseRelease:
                    leases.withLockedValue { _ = $0.released.insert(params["lease"]?.stringValue ?? "") }
                    return .success([:])
                case .leaseInvalidate:
                    leases.withLockedValue { _ = $0.invalidated.insert(params["lease"]?.stringValue ?? "") }
                    return .success([:])
                case .leaseWatch:
                    leases.withLockedValue { $0.watch = (connection, "leases-1") }
                    return .success(["subscription": "leases-1"])
                default: return nil
                }
            }
            try await host.start()
            inbox = Inbox(host)
            (port, plugin) = try await Self.startRouter(
                kit.command,
                socket: host.socketPath,
                state: directory.path + "/state"
            )
        }

        /// Starts the router on a free port and returns once it answers there. A port picked
        /// free can be taken by another program before the router binds it: a router that
        /// ends before it listens gets another port, up to three times.
        static func startRouter(
            _ command: [String],
            socket: String,
            state: String
        ) async throws -> (Int, PluginUnderTest) {
            var attempt = 1
            while true {
                let port = try FreePort.pick()
                let router = PluginUnderTest(
                    command,
                    role: "router",
                    socket: socket,
                    stateDirectory: state,
                    extra: ["BATON_APP": "kit", "PORT": "\(port)"]
                )
                let lastAttempt = attempt == 3
                let listening = try await within(15, "the router listening on PORT \(port)") {
                    while (try? await Kit.get("http://127.0.0.1:\(port)", path: "/", host: "kit")) == nil {
                        if let ended = router.ended {
                            guard !lastAttempt else {
                                throw CaseFailure("the router ended (\(ended)) before it listened")
                            }
                            return false
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    return true
                }
                if listening { return (port, router) }
                await router.stop()
                attempt += 1
            }
        }

        /// A lease on the preferred backend unless excluded, else the other one.
        static func acquire(
            _ params: JSON,
            leases: NIOLockedValueBox<Leases>,
            urls: [String: String]
        ) -> Result<JSON, RPCError> {
            let exclude = Set(params["exclude"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            return leases.withLockedValue { state in
                let invalid = Set(state.invalidated.compactMap { state.issued[$0] })
                let order = state.preferred == "a" ? ["a", "b"] : ["b", "a"]
                guard let sandbox = order.first(where: { !exclude.contains($0) && !invalid.contains($0) }),
                    let url = urls[sandbox]
                else {
                    return .failure(
                        RPCError(.noSandbox, message: "No sandbox available", retryAfter: .milliseconds(100))
                    )
                }
                state.next += 1
                let id = "l-\(state.next)"
                state.issued[id] = sandbox
                return .success(
                    LeaseMessage(
                        lease: id,
                        url: url,
                        sandbox: sandbox,
                        app: "kit",
                        version: "v1",
                        service: "web",
                        slots: 4,
                        ttlMs: 30_000
                    ).json
                )
            }
        }

        /// GET / through the router: which backend answered.
        func get() async throws -> String {
            try await Kit.get("http://127.0.0.1:\(port)", path: "/", host: "kit")
        }

        func finish() async {
            await plugin.stop()
            await host.stop()
            for backend in backends.values { await backend.stop() }
            directory.remove()
        }
    }

    public func prepare() async throws -> Context { try await Context(kit: self) }

    public var cases: [ContractCase<Context>] {
        [
            ContractCase("requests-reach-the-leased-backend", section: "§4 Router role") { context in
                let answer = try await context.get()
                try require(answer == "a", "the request reached \(answer), not the leased backend a")
                _ = try await context.inbox.next(.leaseAcquire, within: 1)
            },
            ContractCase("revocation-moves-traffic", section: "§4 Router role") { context in
                _ = try await context.get()
                try await Self.revokeA(context)
                let moved = try await within(3, "a request reaching b after the revocation") {
                    while try await context.get() != "b" { try await Task.sleep(for: .milliseconds(50)) }
                    return true
                }
                try require(moved, "traffic stayed on the revoked lease")
            },
            ContractCase("revoked-leases-are-released", section: "§4 Router role") { context in
                _ = try await context.get()
                await context.inbox.skipBuffered()  // a release sent before the revocation proves nothing
                let revoked = try await Self.revokeA(context)
                guard !revoked.isEmpty else {
                    throw CaseSkip("the router held no lease to revoke: it releases at once")
                }
                _ = try await context.inbox.next(.leaseRelease, within: 5) {
                    revoked.contains($0.params["lease"]?.stringValue ?? "")
                }
            },
            ContractCase("a-dead-backend-is-invalidated-and-retried-elsewhere", section: "§4 Router role") { context in
                _ = try await context.get()
                await context.backends["a"]?.stop()
                let answer = try await context.get()
                try require(answer == "b", "the request was not retried on b")
                _ = try await context.inbox.next(.leaseInvalidate, within: 2)
            },
            ContractCase("leases-are-released-on-stop", section: "§4 Router role", .should) { context in
                _ = try await context.get()
                await context.plugin.stop()
                let open = context.leases.withLockedValue { state in Set(state.issued.keys).subtracting(state.released)
                }
                try require(open.isEmpty, "leases still held after the router stopped: \(open.sorted())")
            },
        ]
    }

    /// Revokes every lease on backend a not released yet, prefers b from now on; returns the
    /// leases revoked.
    @discardableResult
    static func revokeA(_ context: Context) async throws -> [String] {
        let (ids, watch) = context.leases.withLockedValue { state in
            state.preferred = "b"
            let ids = state.issued.filter { $0.value == "a" && !state.released.contains($0.key) }.map(\.key).sorted()
            state.revoked.formUnion(ids)
            return (ids, state.watch)
        }
        guard let watch else { throw CaseFailure("the router never called lease.watch, so it cannot hear revocations") }
        let revocation = LeaseRevocation(leases: ids.map { LeaseID($0) }, sandbox: "a", app: "kit", reason: .cutover)
        context.host.notify(
            watch.connection,
            ProtocolNotification.leaseRevoked.rawValue,
            revocation.json(subscription: watch.id)
        )
        return ids
    }

    public func run(_ runner: ContractRunner) async -> [ContractRunner.Outcome] {
        await runner.runAll(
            cases,
            prepare: prepare,
            transcript: { $0.host.transcript + $0.plugin.lastLines.map { "plugin: \($0)" } },
            finish: { await $0.finish() }
        )
    }
}
