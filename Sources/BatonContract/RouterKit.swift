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
        /// The terms of the leases handed out from now on.
        var slots = 4
        var ttlMs: Int64 = 30_000
        var renewed: [String] = []
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
            let greeted = NIOLockedValueBox<Set<Int>>([])
            host = MockHost(socketPath: directory.path + "/host.sock") { method, params, connection in
                if method == RPCHandshake.helloMethod {
                    greeted.withLockedValue { _ = $0.insert(connection) }
                    return .success(Kit.hello(params))
                }
                // As the real host: nothing before hello.
                guard greeted.withLockedValue({ $0.contains(connection) }) else {
                    return .failure(RPCError(code: -32002, message: "Not initialized: call host.hello first"))
                }
                switch ProtocolMethod(rawValue: method) {
                case .hostPing: return .success([:])
                case .leaseAcquire: return Self.acquire(params, leases: leases, urls: urls)
                case .leaseRenew:
                    // As the real host: a released, revoked or unknown lease is gone.
                    let id = params["lease"]?.stringValue ?? ""
                    return leases.withLockedValue { state in
                        guard let sandbox = state.issued[id], !state.released.contains(id),
                            !state.revoked.contains(id), let url = urls[sandbox]
                        else {
                            return .failure(RPCError(.leaseGone, message: "Lease gone: \(id)"))
                        }
                        state.renewed.append(id)
                        return .success(Self.lease(id, sandbox: sandbox, url: url, state).json)
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
                directory: directory
            )
        }

        /// Starts the router on a free port and returns once it answers there. A port picked
        /// free can be taken by another program before the router binds it: a router that
        /// ends before it listens, or a port another program answers on, gets another port, up
        /// to three times.
        static func startRouter(
            _ command: [String],
            socket: String,
            directory: CaseDirectory
        ) async throws -> (Int, PluginUnderTest) {
            var attempt = 1
            while true {
                let port = try FreePort.pick()
                let router = PluginUnderTest(
                    command,
                    role: "router",
                    socket: socket,
                    stateDirectory: directory.path + "/state",
                    extra: ["BATON_APP": "kit", "PORT": "\(port)"].merging(directory.processTag) { $1 }
                )
                let lastAttempt = attempt == 3
                let listening: Bool
                do {
                    listening = try await listen(router, port: port, directory: directory, lastAttempt: lastAttempt)
                } catch {
                    await router.stop()  // a router that never listened is stopped too
                    throw error
                }
                if listening { return (port, router) }
                await router.stop()
                attempt += 1
            }
        }

        private static func listen(
            _ router: PluginUnderTest,
            port: Int,
            directory: CaseDirectory,
            lastAttempt: Bool
        ) async throws -> Bool {
            // A 200, not just any answer, from a socket the router holds: another program may hold
            // the port the router failed to bind.
            try await within(15, "the router answering 200 on its PORT") {
                while (try? await Kit.get("http://127.0.0.1:\(port)", path: "/", host: "kit")) == nil {
                    if let ended = router.ended {
                        guard !lastAttempt else {
                            throw CaseFailure("the router ended (\(ended)) before it listened")
                        }
                        return false
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                // What answered may be another program on the port; then the router gets another.
                guard directory.ownsListener(port: port) else {
                    guard !lastAttempt else {
                        throw CaseFailure("another program answered on the router's PORT \(port), three times over")
                    }
                    return false
                }
                return true
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
                return .success(lease(id, sandbox: sandbox, url: url, state).json)
            }
        }

        static func lease(_ id: String, sandbox: String, url: String, _ state: Leases) -> LeaseMessage {
            LeaseMessage(
                lease: id,
                url: url,
                sandbox: sandbox,
                app: "kit",
                version: "v1",
                service: "web",
                slots: state.slots,
                ttlMs: state.ttlMs
            )
        }

        /// Leases from now on have these terms; those out are revoked, and once the router let
        /// go of them it takes new ones.
        func newTerms(slots: Int, ttlMs: Int64) async throws {
            leases.withLockedValue {
                $0.slots = slots
                $0.ttlMs = ttlMs
            }
            await inbox.skipBuffered()
            for lease in try await RouterKit.revoke(self, sandbox: "a", prefer: "a") {
                _ = try await inbox.next(.leaseRelease, within: 5) { $0.params["lease"]?.stringValue == lease }
            }
        }

        /// The newest lease that may take requests: neither released nor revoked.
        var newestOpenLease: String? {
            leases.withLockedValue { state in
                (0...state.next).reversed().map { "l-\($0)" }.first {
                    state.issued[$0] != nil && !state.released.contains($0) && !state.revoked.contains($0)
                }
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
                // Backend a is leased first; a router that could not reach it in time (a loaded
                // machine) may have invalidated it and leased b, which is as good.
                let leased = context.leases.withLockedValue { Set($0.issued.values) }
                try require(
                    leased.contains(answer),
                    "the request reached \(answer), not a backend it holds a lease on (\(leased.isEmpty ? "none" : leased.sorted().joined(separator: ", ")))"
                )
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
            ContractCase("a-lease-carries-no-more-requests-than-its-slots", section: "§5 What a router MUST do") {
                context in
                try await context.newTerms(slots: 1, ttlMs: 30_000)
                let a = context.backends["a"]!
                a.behave(.hold)
                let requests = 3
                // The first request holds its lease's one slot before the others come.
                async let first = try? context.get()
                _ = try await within(3, "the first request held by backend a") {
                    while a.seen.held < 1 { try await Task.sleep(for: .milliseconds(20)) }
                    return true
                }
                async let others = withTaskGroup(of: Bool.self) { group in
                    for _ in 1..<requests { group.addTask { (try? await context.get()) != nil } }
                    return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
                // Held until all arrived, or until the router stopped sending more for a while.
                _ = try await within(3, "\(requests) requests held by backend a") {
                    while a.seen.held < requests { try await Task.sleep(for: .milliseconds(50)) }
                    return true
                }
                let (held, leases) = (a.seen.mostHeld, context.leases.withLockedValue { Self.open($0, on: "a") })
                a.behave(.answer)
                a.answerHeld()
                _ = await (first, others)
                try require(held <= leases, "\(held) requests ran at once on \(leases) lease(s) of 1 slot each")
            },
            ContractCase("a-request-lost-after-it-was-sent-is-not-retried", section: "§5 What a router MUST do") {
                context in
                _ = try await context.get()
                context.backends["a"]!.behave(.drop)
                let before = context.backends["b"]!.seen.methods.count
                let response = try? await Kit.send(
                    .POST,
                    "http://127.0.0.1:\(context.port)",
                    path: "/order",
                    host: "kit",
                    body: "one order"
                )
                let retried = context.backends["b"]!.seen.methods.dropFirst(before).filter { $0 == "POST" }.count
                try require(retried == 0, "a POST lost after it was sent was sent again, to b")
                try require(response.map { $0.status >= 500 } ?? true, "the lost POST was answered \(response!.status)")
            },
            ContractCase("leases-are-renewed-before-they-expire", section: "§5 What a router MUST do") { context in
                let ttl = Duration.milliseconds(1_500)
                try await context.newTerms(slots: 4, ttlMs: ttl.milliseconds)
                _ = try await context.get()
                let started = ContinuousClock.now
                guard let held = context.newestOpenLease else {
                    throw CaseSkip("the router released its lease at once: it keeps none to renew")
                }
                let renewal = try await context.inbox.next(.leaseRenew, within: 5) {
                    $0.params["lease"]?.stringValue == held
                }
                _ = renewal
                let after = ContinuousClock.now - started
                let released = context.leases.withLockedValue { $0.released.contains(held) }
                try require(
                    released || after < ttl,
                    "lease \(held) was renewed only after \(after), past its ttl of \(ttl)"
                )
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
        try await revoke(context, sandbox: "a", prefer: "b")
    }

    /// Leases handed out on `sandbox` that may take requests: neither released nor revoked.
    static func open(_ state: Leases, on sandbox: String) -> Int {
        state.issued.filter {
            $0.value == sandbox && !state.released.contains($0.key) && !state.revoked.contains($0.key)
        }.count
    }

    /// Revokes every lease on `sandbox` not released yet, and prefers `prefer` from now on;
    /// returns the leases revoked.
    @discardableResult
    static func revoke(_ context: Context, sandbox: String, prefer: String) async throws -> [String] {
        let (ids, watch) = context.leases.withLockedValue { state in
            state.preferred = prefer
            let ids = state.issued.filter { $0.value == sandbox && !state.released.contains($0.key) }.map(\.key)
                .sorted()
            state.revoked.formUnion(ids)
            return (ids, state.watch)
        }
        guard let watch else { throw CaseFailure("the router never called lease.watch, so it cannot hear revocations") }
        // One a later protocol version might send first: a router must read past it.
        context.host.notify(watch.connection, "host.somethingNew", ["from": "a later protocol"])
        let revocation = LeaseRevocation(
            leases: ids.map { LeaseID($0) },
            sandbox: SandboxID(sandbox),
            app: "kit",
            reason: .cutover
        )
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
