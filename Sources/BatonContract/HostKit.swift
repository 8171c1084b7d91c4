import BatonJSON
import BatonProtocol
import BatonRPC
import Foundation
import NIOConcurrencyHelpers

/// `baton contract host --socket PATH`: plays admin, scheduler and router against a running
/// host: the transcripts, then the deploy scenarios of PROTOCOL.md §4, each on an app of
/// its own, with the kit's fixture backends as sandboxes. Pools go to the kit's scheduler
/// by name, so a host that runs its own schedulers can be checked as it is.
public struct HostKit: Sendable {
    public var socket: String
    public var transcripts: [Transcript]
    /// When given, every call's params and result are checked against the protocol's schemas.
    public var schemas: SchemaValidator?

    public init(socket: String, transcripts: [Transcript], schemas: SchemaValidator? = nil) {
        self.socket = socket
        self.transcripts = transcripts
        self.schemas = schemas
    }

    public final class Context: Sendable {
        let socket: String
        let schemas: SchemaValidator?
        let app = "kit-\(UInt32.random(in: 0...UInt32.max))"
        let admin: RPCClient
        let scheduler: RPCClient
        let router: RPCClient
        let lines = NIOLockedValueBox<[String]>([])
        let backends = NIOLockedValueBox<[FixtureServer]>([])
        let adminEvents: Inbox
        let desired: Inbox
        let revocations: Inbox
        /// The protocol version the host agreed to at hello.
        let version: ProtocolVersion
        /// The scheduler session's subscription.
        let subscription: String

        init(socket: String, schemas: SchemaValidator?) async throws {
            self.socket = socket
            self.schemas = schemas
            (admin, version) = try await Self.session(socket, .admin)
            scheduler = try await Self.session(socket, .scheduler).client
            router = try await Self.session(socket, .router).client
            // The kit reads pushes through the same Inbox as the plugin kits.
            adminEvents = Inbox(notifications: admin.notifications, schemas: schemas)
            desired = Inbox(notifications: scheduler.notifications, schemas: schemas)
            revocations = Inbox(notifications: router.notifications, schemas: schemas)
            subscription = try await scheduler.call(.schedulerSubscribe)["subscription"]?.stringValue ?? ""
            _ = try await call(admin, .eventsWatch, ["apps": [.string(app)]])
            _ = try await call(router, .leaseWatch, ["apps": [.string(app)]])
        }

        static func session(
            _ socket: String,
            _ role: RPCRole
        ) async throws -> (
            client: RPCClient, version: ProtocolVersion
        ) {
            let client = try await RPCClient.connect(socketPath: socket)
            let hello = try await client.hello(
                role: role,
                client: RPCProgramInfo(name: "contract-kit", version: "0.1.0")
            )
            guard let version = hello["protocol"]?.stringValue.flatMap(ProtocolVersion.init) else {
                throw CaseFailure("host.hello answered no protocol version the kit can read")
            }
            return (client, version)
        }

        /// Skips a case about what `needed` added, for a host that agreed to an older version.
        func requires(_ needed: ProtocolVersion) throws {
            guard version >= needed else { throw CaseSkip("the host speaks \(version), and this needs \(needed)") }
        }

        /// Waits until the scheduler is told to run nothing in `pool`, unless it was already.
        func scaledToZero(_ pool: String, within seconds: Double = 10) async throws {
            let atZero: @Sendable (MockHost.Inbound) -> Bool = { message in
                message.method == ProtocolNotification.schedulerDesired.rawValue
                    && message.params["pools"]?.arrayValue?.contains {
                        $0["pool"]?.stringValue == pool && $0["desired"] == 0
                    } == true
            }
            if await desired.all.contains(where: atZero) { return }
            _ = try await desired.next(.schedulerDesired, within: seconds, where: atZero)
        }

        /// Calls and records the exchange for a failing case; with schemas, checks the result.
        func call(_ client: RPCClient, _ method: ProtocolMethod, _ params: JSON? = nil) async throws -> JSON {
            lines.withLockedValue { $0.append("→ \(method) \((try? params?.serializedString()) ?? "")") }
            do {
                let result = try await client.call(method, params)
                lines.withLockedValue { $0.append("← \((try? result.serializedString()) ?? "?")") }
                if let problems = schemas?.problems(result, file: "\(method).result.schema.json"), !problems.isEmpty {
                    throw CaseFailure("the result of \(method) breaks its schema: \(problems.joined(separator: "; "))")
                }
                return result
            } catch {
                lines.withLockedValue { $0.append("← error \(error)") }
                throw error
            }
        }

        /// Deploys `version` with `instances` sandboxes for the kit's scheduler; returns its pool.
        func deploy(
            _ version: String,
            instances: Int = 1,
            slots: Int = 64,
            readyTimeoutMs: Int64 = 20_000
        ) async throws -> String {
            _ = try await call(
                admin,
                .appDeploy,
                [
                    "app": .string(app), "version": .string(version), "readyTimeoutMs": .int(readyTimeoutMs),
                    "drainTimeoutMs": 5_000,
                    "services": [
                        [
                            "name": "web", "instances": .int(Int64(instances)), "slots": .int(Int64(slots)),
                            "scheduler": "contract-kit",
                            "spec": ["kit": .string(version)],
                        ]
                    ],
                ]
            )
            let update = try await desired.next(.schedulerDesired, within: 5) { message in
                message.params["pools"]?.arrayValue?.contains {
                    $0["version"]?.stringValue == version && $0["app"]?.stringValue == self.app
                } == true
            }
            guard
                let pool = update.params["pools"]?.arrayValue?.first(where: { $0["version"]?.stringValue == version })?[
                    "pool"
                ]?.stringValue
            else { throw CaseFailure("scheduler.desired named no pool for \(version)") }
            return pool
        }

        /// Starts a backend and reports it ready as `sandbox` of `pool`.
        func ready(_ sandbox: String, pool: String) async throws {
            let backend = try await FixtureServer.start(name: sandbox)
            backends.withLockedValue { $0.append(backend) }
            _ = try await call(
                scheduler,
                .schedulerReport,
                SandboxReport(sandbox: .init(sandbox), pool: .init(pool), state: .ready, url: backend.url).json
            )
        }

        func event(
            _ type: EventType,
            within seconds: Double = 10,
            version: String? = nil
        ) async throws
            -> MockHost.Inbound
        {
            try await adminEvents.next(.event, within: seconds) {
                $0.params["type"]?.stringValue == type.rawValue
                    && (version == nil || $0.params["version"]?.stringValue == version)
            }
        }

        /// A live app: v1 deployed and cut over, one sandbox `a`.
        func live() async throws {
            let pool = try await deploy("v1")
            try await ready("\(app)-a", pool: pool)
            _ = try await event(.deployCutover, version: "v1")
        }

        func lease() async throws -> JSON {
            try await call(router, .leaseAcquire, ["app": .string(app), "waitMs": 2_000])
        }

        func finish() async {
            for client in [admin, scheduler, router] { await client.close() }
            for backend in backends.withLockedValue({ $0 }) { await backend.stop() }
        }
    }

    public var cases: [ContractCase<Context>] {
        let socket = socket
        let wire = transcripts.map { transcript in
            ContractCase<Context>("transcript-\(transcript.name)", section: "§2 JSON-RPC 2.0, §3 Sessions and roles") {
                context in
                try await transcript.run(socket: socket) { line in context.lines.withLockedValue { $0.append(line) } }
            }
        }
        return wire + [
            ContractCase("readiness-gate-holds-cutover", section: "§4 Admin role, promises 3 and 4") { context in
                let pool = try await context.deploy("v1", instances: 2)
                try await context.ready("\(context.app)-a", pool: pool)
                let early = (try? await context.event(.deployCutover, within: 1)) != nil
                try require(!early, "cut over with 1 of 2 sandboxes ready")
                try await context.ready("\(context.app)-b", pool: pool)
                _ = try await context.event(.deployCutover, version: "v1")
            },
            ContractCase("cutover-moves-new-leases", section: "§4 Admin role, promise 4") { context in
                try await context.live()
                try require(try await context.lease()["version"] == "v1", "the first lease is not on v1")
                let pool = try await context.deploy("v2")
                try await context.ready("\(context.app)-c", pool: pool)
                _ = try await context.event(.deployCutover, version: "v2")
                let lease = try await context.lease()
                try require(
                    lease["version"] == "v2",
                    "a lease after the cutover is on \(lease["version"]?.stringValue ?? "?"), not v2"
                )
            },
            ContractCase("cutover-revokes-old-leases", section: "§4 Router role") { context in
                try await context.live()
                let old = try await context.lease()["lease"]?.stringValue ?? ""
                let pool = try await context.deploy("v2")
                try await context.ready("\(context.app)-c", pool: pool)
                let revoked = try await context.revocations.next(.leaseRevoked, within: 5) {
                    $0.params["leases"]?.arrayValue?.contains(.string(old)) == true
                }
                try require(
                    revoked.params["reason"] == "cutover",
                    "revoked with reason \(revoked.params["reason"]?.stringValue ?? "?")"
                )
            },
            ContractCase("drain-ends-when-leases-are-released", section: "§4 Admin role, promise 5") { context in
                try await context.live()
                let lease = try await context.lease()
                let old = lease["lease"] ?? .null
                let pool = try await context.deploy("v2")
                try await context.ready("\(context.app)-c", pool: pool)
                _ = try await context.event(.deployCutover, version: "v2")
                // Watched for less than the lease's life, so only a release can end the drain.
                let watch = min(3.0, Double(lease["ttlMs"]?.intValue ?? 2_000) / 3000)
                let early = (try? await context.event(.poolScaledDown, within: watch)) != nil
                try require(!early, "scaled down while a lease was still held")
                _ = try await context.call(context.router, .leaseRelease, ["lease": old])
                let scaled = try await context.event(.poolScaledDown, within: 5, version: "v1")
                try require(
                    scaled.params["reason"] == "drained",
                    "scaled down for \(scaled.params["reason"]?.stringValue ?? "?")"
                )
            },
            ContractCase("a-version-that-never-gets-ready-rolls-back", section: "§4 Admin role, promise 6") { context in
                try await context.live()
                let pool = try await context.deploy("v2", readyTimeoutMs: 1_000)
                _ = try await context.event(.deployFailed, within: 10, version: "v2")
                try await context.scaledToZero(pool)
                let lease = try await context.lease()
                try require(
                    lease["version"] == "v1",
                    "after the rollback a lease is on \(lease["version"]?.stringValue ?? "?")"
                )
            },
            ContractCase("a-newer-deploy-supersedes-a-waiting-one", section: "§4 Admin role, promise 7") { context in
                try await context.live()
                let pool = try await context.deploy("v2")
                _ = try await context.deploy("v3")
                _ = try await context.event(.deploySuperseded, version: "v2")
                try await context.scaledToZero(pool)
            },
            ContractCase("pipelined-reports-take-effect-in-order", section: "§3 Ordering") { context in
                let pool = try await context.deploy("v1")
                let backend = try await FixtureServer.start(name: "\(context.app)-a")
                context.backends.withLockedValue { $0.append(backend) }
                // Both written before any answer: `starting` as a notification, `ready` right behind it.
                let sandbox = SandboxID("\(context.app)-a")
                try await context.scheduler.notify(
                    ProtocolMethod.schedulerReport.rawValue,
                    SandboxReport(sandbox: sandbox, pool: .init(pool), state: .starting).json
                )
                _ = try await context.call(
                    context.scheduler,
                    .schedulerReport,
                    SandboxReport(sandbox: sandbox, pool: .init(pool), state: .ready, url: backend.url).json
                )
                _ = try await context.event(.deployCutover, version: "v1")
            },
            ContractCase("desired-seq-rises-by-one", section: "§5 Subscriptions") { context in
                try await context.live()
                _ = try await context.deploy("v2", instances: 2)
                let seqs = await context.desired.all.filter {
                    $0.method == ProtocolNotification.schedulerDesired.rawValue
                        && $0.params["subscription"]?.stringValue == context.subscription
                }.compactMap { $0.params["seq"]?.intValue }
                try require(
                    !seqs.isEmpty && seqs == Array(1...Int64(seqs.count)),
                    "scheduler.desired carried seq \(seqs), not 1, 2, 3, ..."
                )
            },
            ContractCase("a-sandbox-never-has-more-slots-out-than-it-offers", section: "§4 Router role") { context in
                let pool = try await context.deploy("v1", slots: 2)
                try await context.ready("\(context.app)-a", pool: pool)
                _ = try await context.event(.deployCutover, version: "v1")
                let first = try await context.lease()
                _ = try await context.lease()
                do {
                    let third = try await context.call(context.router, .leaseAcquire, ["app": .string(context.app)])
                    throw CaseFailure("a third lease on a sandbox of 2 slots: \((try? third.serializedString()) ?? "")")
                } catch let error as RPCError {
                    try require(error.protocolCode == .noSandbox, "a full sandbox answered \(error.code), not 2001")
                }
                _ = try await context.call(context.router, .leaseRelease, ["lease": first["lease"] ?? .null])
                _ = try await context.lease()
            },
            ContractCase("the-host-checks-a-sandbox-before-it-serves", section: "§4 Admin role, promise 3") { context in
                let pool = try await context.deploy("v1")
                let closed = try await FixtureServer.start(name: "gone")
                await closed.stop()  // its port answers nothing now
                _ = try await context.call(
                    context.scheduler,
                    .schedulerReport,
                    SandboxReport(
                        sandbox: .init("\(context.app)-dead"),
                        pool: .init(pool),
                        state: .ready,
                        url: closed.url
                    )
                    .json
                )
                let early = (try? await context.event(.deployCutover, within: 2)) != nil
                try require(!early, "cut over to a sandbox whose URL answers nothing")
                try await context.ready("\(context.app)-a", pool: pool)
                _ = try await context.event(.deployCutover, version: "v1")
            },
            ContractCase("a-service-scaled-to-0-drains-first", section: "§4 Admin role, promise 11") { context in
                try context.requires(ProtocolVersion(major: 1, minor: 1))
                try await context.live()
                let lease = try await context.lease()
                let pool =
                    try await context.call(context.admin, .appStatus, ["app": .string(context.app)])["pools"]?
                    .arrayValue?.first?["pool"]?.stringValue ?? ""
                _ = try await context.call(
                    context.admin,
                    .appScale,
                    ["app": .string(context.app), "service": "web", "instances": 0, "drainTimeoutMs": 20_000]
                )
                let revoked = try await context.revocations.next(.leaseRevoked, within: 5) {
                    $0.params["leases"]?.arrayValue?.contains(lease["lease"] ?? .null) == true
                }
                try require(revoked.params["reason"] == "draining", "revoked for \(revoked.params["reason"] ?? "?")")
                let early = (try? await context.event(.poolScaledDown, within: 1)) != nil
                try require(!early, "scaled to 0 while a lease was still held")
                _ = try await context.call(context.router, .leaseRelease, ["lease": lease["lease"] ?? .null])
                try await context.scaledToZero(pool)
                do {
                    _ = try await context.call(context.router, .leaseAcquire, ["app": .string(context.app)])
                    throw CaseFailure("a service scaled to 0 handed out a lease")
                } catch let error as RPCError {
                    try require(error.protocolCode == .noSandbox, "a stopped service answered \(error.code), not 2001")
                }
            },
            ContractCase("a-paused-app-holds-lease-requests-until-it-resumes", section: "§4 Admin role, promise 12") {
                context in
                try context.requires(ProtocolVersion(major: 1, minor: 1))
                try await context.live()
                _ = try await context.call(context.admin, .appPause, ["app": .string(context.app)])
                let held = try await context.router.send(
                    .leaseAcquire,
                    ["app": .string(context.app), "waitMs": 10_000]
                )
                _ = try await context.call(context.router, .hostPing)  // answered once the acquire took its place
                try require(!held.isAnswered, "a paused app handed out a lease")
                _ = try await context.call(context.admin, .appResume, ["app": .string(context.app)])
                let lease = try await held.result()
                try require(lease["version"] == "v1", "the held request got \((try? lease.serializedString()) ?? "?")")
            },
            ContractCase("a-removed-app-is-forgotten", section: "§4 Admin role, promise 13") { context in
                try context.requires(ProtocolVersion(major: 1, minor: 1))
                try await context.live()
                let host = "\(context.app).kit.test"
                _ = try await context.call(
                    context.admin,
                    .routeSet,
                    ["host": .string(host), "app": .string(context.app)]
                )
                _ = try await context.call(context.admin, .appRemove, ["app": .string(context.app)])
                _ = try await context.event(.appRemoved)
                do {
                    _ = try await context.call(context.admin, .appStatus, ["app": .string(context.app)])
                    throw CaseFailure("app.status still knows the removed app")
                } catch let error as RPCError {
                    try require(error.protocolCode == .unknownApp, "a removed app answered \(error.code), not 2002")
                }
                let routes = try await context.call(context.admin, .routeList)["routes"]?.arrayValue ?? []
                try require(!routes.contains { $0["host"] == .string(host) }, "the removed app's route is still there")
            },
            ContractCase("a-rollback-goes-through-the-gate", section: "§4 Admin role, promise 9") { context in
                try context.requires(ProtocolVersion(major: 1, minor: 1))
                try await context.live()
                let pool = try await context.deploy("v2")
                try await context.ready("\(context.app)-c", pool: pool)
                _ = try await context.event(.deployDone, version: "v2")
                let rollback = try await context.call(context.admin, .appRollback, ["app": .string(context.app)])
                try require(rollback["version"] == "v1", "rolled back to \(rollback["version"]?.stringValue ?? "?")")
                let early = (try? await context.event(.deployCutover, within: 1)) != nil
                try require(!early, "the rollback cut over before a sandbox of v1 was ready again")
                let update = try await context.desired.next(.schedulerDesired, within: 5) { message in
                    message.params["pools"]?.arrayValue?.contains { $0["version"] == "v1" && $0["desired"] == 1 }
                        == true
                }
                let old = update.params["pools"]?.arrayValue?.first { $0["version"] == "v1" }?["pool"]?.stringValue
                try await context.ready("\(context.app)-a2", pool: old ?? "")
                _ = try await context.event(.deployCutover, version: "v1")
                try require(try await context.lease()["version"] == "v1", "a lease after the rollback is not on v1")
            },
            ContractCase("an-unrenewed-lease-expires", section: "§4 Router role") { context in
                try await context.live()
                let lease = try await context.lease()
                let ttl = lease["ttlMs"]?.intValue ?? 0
                guard ttl <= 60_000 else {
                    throw CaseSkip(
                        "this host's leases live \(ttl) ms; run it with leases.ttlMs of 60000 or less to check expiry"
                    )
                }
                let revoked = try await context.revocations.next(.leaseRevoked, within: Double(ttl) / 1000 + 3) {
                    $0.params["leases"]?.arrayValue?.contains(lease["lease"] ?? .null) == true
                }
                try require(
                    revoked.params["reason"] == "expired",
                    "revoked for \(revoked.params["reason"]?.stringValue ?? "?"), not expired"
                )
                do {
                    _ = try await context.call(context.router, .leaseRenew, ["lease": lease["lease"] ?? .null])
                    throw CaseFailure("an expired lease was renewed")
                } catch let error as RPCError {
                    try require(
                        error.protocolCode == .leaseGone,
                        "renewing an expired lease answered \(error.code), not \(ProtocolErrorCode.leaseGone.rawValue)"
                    )
                }
            },
            ContractCase("bad-params-on-every-method", section: "§2 JSON-RPC 2.0, §6 Error codes") { context in
                let clients: [(RPCClient, [ProtocolMethod])] = [
                    (context.admin, [.appDeploy, .appStatus, .routeSet, .routeRemove, .eventsWatch]),
                    (context.scheduler, [.schedulerReport, .schedulerSync]),
                    (context.router, [.leaseAcquire, .leaseRenew, .leaseRelease, .leaseInvalidate, .leaseWatch]),
                ]
                for (client, methods) in clients {
                    for method in methods {
                        for params: JSON in [
                            [1, 2], ["app": 5, "lease": 5, "sandbox": 5, "host": 5, "apps": 5, "sandboxes": 5],
                        ] {
                            do {
                                _ = try await context.call(client, method, params)
                                throw CaseFailure("\(method) accepted \((try? params.serializedString()) ?? "")")
                            } catch let error as RPCError {
                                try require(error.code == -32602, "\(method) answered \(error.code), not -32602")
                            }
                        }
                    }
                    _ = try await context.call(client, .hostPing)
                }
            },
        ]
    }

    public func run(_ runner: ContractRunner) async -> [ContractRunner.Outcome] {
        let socket = socket
        let schemas = schemas
        return await runner.runAll(
            cases,
            prepare: { try await Context(socket: socket, schemas: schemas) },
            transcript: { $0.lines.withLockedValue { $0 } },
            finish: { await $0.finish() }
        )
    }
}
