import BatonJSON
import BatonLoad
import BatonProtocol
import BatonRPC
import NIOConcurrencyHelpers
import NIOHTTP1

/// `baton contract scheduler -- CMD`: a mock host on a temporary socket, the plugin started
/// as a host would start it, and the scheduler rules of PROTOCOL.md §4 (Scheduler role) checked one by one.
public struct SchedulerKit: Sendable {
    public var command: [String]
    /// How a sandbox runs the kit's fixture app (it reads `$PORT`).
    public var fixtureCommand: [String]

    public init(command: [String], fixtureCommand: [String]) {
        self.command = command
        self.fixtureCommand = fixtureCommand
    }

    public final class Context: Sendable {
        let directory: CaseDirectory
        let host: MockHost
        let inbox: Inbox
        let plugin: PluginUnderTest
        let desired: NIOLockedValueBox<Int>
        let subscription: NIOLockedValueBox<(id: String, connection: Int, seq: Int64)?>
        let fixtureCommand: [String]

        init(kit: SchedulerKit) async throws {
            directory = try CaseDirectory()
            let desired = NIOLockedValueBox(1)
            let subscription = NIOLockedValueBox<(id: String, connection: Int, seq: Int64)?>(nil)
            let count = NIOLockedValueBox(0)
            let fixture = kit.fixtureCommand
            let tag = directory.processTag
            self.desired = desired
            self.subscription = subscription
            fixtureCommand = fixture
            host = MockHost(socketPath: directory.path + "/host.sock") { method, params, connection in
                if method == RPCHandshake.helloMethod { return .success(Kit.hello(params)) }
                switch ProtocolMethod(rawValue: method) {
                case .hostPing, .schedulerReport, .schedulerSync: return .success([:])
                case .schedulerSubscribe:
                    let number = count.withLockedValue { value in
                        value += 1
                        return value
                    }
                    let id = "sub-\(number)"
                    subscription.withLockedValue { $0 = (id, connection, 0) }
                    return .success([
                        "subscription": .string(id), "seq": 0,
                        "pools": [Self.pool(desired.withLockedValue { $0 }, fixture, tag: tag)],
                    ])
                default: return nil
                }
            }
            try await host.start()
            inbox = Inbox(host)
            plugin = PluginUnderTest(
                kit.command,
                role: "scheduler",
                socket: host.socketPath,
                stateDirectory: directory.path + "/state",
                extra: directory.processTag
            )
        }

        static func pool(_ desired: Int, _ fixture: [String], tag: [String: String]) -> JSON {
            [
                "pool": "p-kit-1", "app": "kit", "version": "v1", "service": "web", "desired": .int(Int64(desired)),
                "spec": [
                    "command": .string(fixture[0]), "args": .array(fixture.dropFirst().map(JSON.string)),
                    "env": .object(JSONObject(tag.map { ($0.key, .string($0.value)) })), "graceMs": 3000,
                ],
                "health": ["path": "/healthz"],
            ]
        }

        /// Sends `scheduler.desired` with `desired` sandboxes, on the current subscription,
        /// at the next seq (or at `seq`).
        func push(desired count: Int, seq: Int64? = nil) throws {
            desired.withLockedValue { $0 = count }
            guard let current = subscription.withLockedValue({ $0 }) else {
                throw CaseFailure("the plugin never subscribed")
            }
            let next = seq ?? current.seq + 1
            subscription.withLockedValue { $0?.seq = next }
            host.notify(
                current.connection,
                ProtocolNotification.schedulerDesired.rawValue,
                [
                    "subscription": .string(current.id), "seq": .int(next),
                    "pools": [Self.pool(count, fixtureCommand, tag: directory.processTag)],
                ]
            )
        }

        /// Waits for a sandbox of the pool to be reported starting, then ready; checks its URL.
        func ready() async throws -> (sandbox: String, url: String) {
            let starting = try await inbox.next(.schedulerReport, within: 10) { $0.params["state"] == "starting" }
            let sandbox =
                try starting.params["sandbox"]?.stringValue ?? { throw CaseFailure("a report without a sandbox") }()
            let ready = try await inbox.next(.schedulerReport, within: 10) {
                $0.params["state"] == "ready" && $0.params["sandbox"]?.stringValue == sandbox
            }
            guard let url = ready.params["url"]?.stringValue else { throw CaseFailure("a ready report without url") }
            try await Kit.expectAnswer(from: url, path: "/healthz")
            return (sandbox, url)
        }

        /// A scheduler leaves its sandboxes running when it exits, for the next one to adopt;
        /// the kit leaves nothing behind, so it ends what the case started once the plugin is gone.
        func finish() async {
            await plugin.stop()
            directory.killTaggedProcesses()
            await host.stop()
            directory.remove()
        }
    }

    public func prepare() async throws -> Context { try await Context(kit: self) }

    public var cases: [ContractCase<Context>] {
        [
            ContractCase("hello-comes-first", section: "§3 Sessions and roles") { context in
                _ = try await context.inbox.next(RPCHandshake.helloMethod)
                let first = await context.inbox.all.first?.method
                try require(
                    first == RPCHandshake.helloMethod,
                    "the first message was \(first ?? "nothing"), not \(RPCHandshake.helloMethod)"
                )
            },
            ContractCase("desired-leads-to-starting-then-ready", section: "§4 Scheduler role") { context in
                _ = try await context.ready()
            },
            ContractCase("scale-down-leads-to-stopped", section: "§4 Scheduler role") { context in
                let (sandbox, _) = try await context.ready()
                try context.push(desired: 0)
                _ = try await context.inbox.next(.schedulerReport, within: 15) {
                    $0.params["state"] == "stopped" && $0.params["sandbox"]?.stringValue == sandbox
                }
            },
            ContractCase("repeated-desired-changes-nothing", section: "§4 Scheduler role") { context in
                let (_, url) = try await context.ready()
                try context.push(desired: 1)
                let started = await context.inbox.arrives(.schedulerReport, within: 2) {
                    $0.params["state"] == "starting"
                }
                try require(!started, "the same desired state again started another sandbox")
                try await Kit.expectAnswer(from: url, path: "/")
            },
            ContractCase("dropped-connection-leads-to-reconnect-and-sync", section: "§4 Scheduler role") { context in
                let (sandbox, _) = try await context.ready()
                for connection in context.host.openConnections { context.host.drop(connection) }
                _ = try await context.inbox.next(RPCHandshake.helloMethod, within: 15)
                let sync = try await context.inbox.next(.schedulerSync, within: 15)
                let listed = sync.params["sandboxes"]?.arrayValue?.contains {
                    $0["sandbox"]?.stringValue == sandbox && $0["state"] == "ready"
                }
                try require(listed == true, "scheduler.sync after reconnecting did not list \(sandbox) as ready")
            },
            ContractCase("seq-gap-leads-to-resubscribe", section: "§4 Scheduler role") { context in
                _ = try await context.inbox.next(.schedulerSubscribe)
                _ = try await context.ready()
                try context.push(desired: 1, seq: 2)  // seq 1 never came
                _ = try await context.inbox.next(.schedulerSubscribe, within: 10)
            },
            ContractCase("unknown-notifications-are-ignored", section: "§5 Notifications from the host") { context in
                _ = try await context.ready()
                guard let current = context.subscription.withLockedValue({ $0 }) else {
                    throw CaseFailure("no subscription")
                }
                context.host.notify(current.connection, "host.somethingNew", ["from": "a later protocol"])
                try context.push(desired: 2)
                _ = try await context.ready()
            },
        ]
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

/// What every kit shares.
enum Kit {
    static func hello(_ params: JSON) -> JSON {
        let asked = params["protocol"]?.stringValue.flatMap(ProtocolVersion.init) ?? ProtocolVersion.current
        let agreed = ProtocolVersion.current.agreed(with: asked) ?? ProtocolVersion.current
        return [
            "protocol": .string(agreed.description), "role": params["role"] ?? "admin", "session": "s-contract",
            "host": ["name": "baton-contract", "version": "0.1.0"], "limits": ["maxLineBytes": 1_048_576],
        ]
    }

    /// GETs `path` at `url`; fails the case unless it answers 200.
    static func expectAnswer(from url: String, path: String, host: String = "kit") async throws {
        _ = try await get(url, path: path, host: host)
    }

    static func get(_ url: String, path: String, host: String) async throws -> String {
        guard url.hasPrefix("http://"), let colon = url.lastIndex(of: ":"),
            let port = Int(url[url.index(after: colon)...].prefix { $0.isNumber })
        else { throw CaseFailure("\(url) is not an http://HOST:PORT URL") }
        let address = String(url.dropFirst("http://".count).prefix { $0 != ":" })
        let connection: LoadConnection
        do {
            connection = try await LoadConnection.connect(host: address, port: port)
        } catch {
            throw CaseFailure("\(url) does not answer: \(error)")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        let response: LoadResponse
        do {
            response = try await connection.request(.GET, path, headers: headers)
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        guard response.status == 200 else { throw CaseFailure("GET \(url)\(path) answered \(response.status)") }
        return String(buffer: response.body)
    }
}
