import BatonJSON
import BatonLoad
import BatonPlugins
import BatonProtocol
import BatonRPC
import Foundation
import Glibc
import NIOConcurrencyHelpers
import NIOCore
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
        /// Set when hellos are refused from now on, with why.
        let refusing: NIOLockedValueBox<String?>
        /// The plugin as the case started it, then each run `restartPlugin` started.
        let plugins: NIOLockedValueBox<[PluginUnderTest]>
        var plugin: PluginUnderTest { plugins.withLockedValue { $0.last! } }
        private let command: [String]
        /// The desired count of each pool the kit gives the plugin.
        let desired: NIOLockedValueBox<[String: Int]>
        let subscription: NIOLockedValueBox<(id: String, connection: Int, seq: Int64)?>
        let fixtureCommand: [String]

        init(kit: SchedulerKit) async throws {
            directory = try CaseDirectory()
            let desired = NIOLockedValueBox([Self.firstPool: 1])
            let subscription = NIOLockedValueBox<(id: String, connection: Int, seq: Int64)?>(nil)
            let count = NIOLockedValueBox(0)
            let refusing = NIOLockedValueBox<String?>(nil)
            self.refusing = refusing
            let fixture = kit.fixtureCommand
            let tag = directory.processTag
            self.desired = desired
            self.subscription = subscription
            fixtureCommand = fixture
            host = MockHost(socketPath: directory.path + "/host.sock") { method, params, connection in
                if method == RPCHandshake.helloMethod {
                    guard refusing.withLockedValue({ $0 }) == nil else {
                        return .failure(
                            RPCError(code: -32004, message: "Unsupported protocol", data: ["supported": ["baton/9.0"]])
                        )
                    }
                    return .success(Kit.hello(params))
                }
                switch ProtocolMethod(rawValue: method) {
                case .hostPing, .schedulerReport, .schedulerSync: return .success([:])
                case .schedulerSubscribe:
                    let number = count.withLockedValue { value in
                        value += 1
                        return value
                    }
                    let id = "sub-\(number)"
                    subscription.withLockedValue { $0 = (id, connection, 0) }
                    let pools = desired.withLockedValue { $0 }.sorted { $0.key < $1.key }
                    return .success([
                        "subscription": .string(id), "seq": 0,
                        "pools": .array(pools.map { Self.pool($0.key, desired: $0.value, fixture, tag: tag) }),
                    ])
                default: return nil
                }
            }
            try await host.start()
            inbox = Inbox(host)
            command = kit.command
            plugins = NIOLockedValueBox([])
            startPlugin()
        }

        private func startPlugin() {
            let started = PluginUnderTest(
                command,
                role: "scheduler",
                socket: host.socketPath,
                stateDirectory: directory.path + "/state",
                extra: directory.processTag
            )
            plugins.withLockedValue { $0.append(started) }
        }

        /// Stops the plugin as a host going away does (SIGTERM), then starts it again on the
        /// same state directory; returns how the stopped run ended.
        @discardableResult
        func restartPlugin() async -> ChildExit? {
            let stopped = plugin
            await stopped.stop()
            startPlugin()
            return stopped.ended
        }

        static let firstPool = "p-kit-1"

        /// A pool whose sandboxes run the fixture app, which answers with the pool's id and its pid.
        static func pool(_ id: String, desired: Int, _ fixture: [String], tag: [String: String]) -> JSON {
            [
                "pool": .string(id), "app": "kit", "version": "v1", "service": "web", "desired": .int(Int64(desired)),
                "spec": [
                    "command": .string(fixture[0]),
                    "args": .array((fixture.dropFirst() + ["--name", id]).map(JSON.string)),
                    "env": .object(JSONObject(tag.map { ($0.key, .string($0.value)) })), "graceMs": 3000,
                ],
                "health": ["path": "/healthz"],
            ]
        }

        /// Sends `scheduler.desired` with `desired` sandboxes of `pool`, on the current
        /// subscription, at the next seq (or at `seq`).
        func push(desired count: Int, pool: String = firstPool, seq: Int64? = nil) throws {
            desired.withLockedValue { $0[pool] = count }
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
                    "pools": [Self.pool(pool, desired: count, fixtureCommand, tag: directory.processTag)],
                ]
            )
        }

        /// Waits for a sandbox to be reported starting, then ready; checks its URL.
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

        /// The fixture's answer at `url`: the pool it was started for, and its pid.
        func fixture(at url: String) async throws -> (pool: String, pid: pid_t) {
            let words = try await Kit.get(url, path: "/", host: "kit").split(separator: " ")
            guard words.count == 2, let pid = pid_t(words[1]) else {
                throw CaseFailure("\(url) does not answer as the kit's fixture app does")
            }
            return (String(words[0]), pid)
        }

        /// A scheduler leaves its sandboxes running when it exits, for the next one to adopt; the
        /// kit leaves nothing behind. It scales every pool to 0 and waits a moment for the stops,
        /// then ends, once the plugin is gone, whatever the case started and is still running.
        func finish() async {
            let pools = desired.withLockedValue { $0.keys.sorted() }
            if pools.allSatisfy({ (try? push(desired: 0, pool: $0)) != nil }) {
                let deadline = ContinuousClock.now + .seconds(5)
                while ContinuousClock.now < deadline, await !running().isEmpty {
                    _ = await inbox.arrives(.schedulerReport, within: 1) {
                        $0.params["state"] == "stopped" || $0.params["state"] == "failed"
                    }
                }
            }
            for started in plugins.withLockedValue({ $0 }) { await started.stop() }
            directory.killTaggedProcesses()
            await host.stop()
            directory.remove()
        }

        /// The sandboxes the plugin last reported starting or ready.
        private func running() async -> Set<String> {
            var last: [String: String] = [:]
            for message in await inbox.all {
                let reports: [JSON]
                switch ProtocolMethod(rawValue: message.method) {
                case .schedulerSync: reports = message.params["sandboxes"]?.arrayValue ?? []
                case .schedulerReport: reports = [message.params]
                default: continue
                }
                for report in reports {
                    if let sandbox = report["sandbox"]?.stringValue { last[sandbox] = report["state"]?.stringValue }
                }
            }
            return Set(last.filter { $0.value == "starting" || $0.value == "ready" }.keys)
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
            ContractCase("sync-follows-subscribe", section: "§4 Scheduler role, scheduler.sync") { context in
                _ = try await context.inbox.next(.schedulerSubscribe)
                _ = try await context.inbox.next(.schedulerSync, within: 5)
                let early = await context.inbox.all.prefix { $0.method != ProtocolMethod.schedulerSync.rawValue }
                    .first { $0.method == ProtocolMethod.schedulerReport.rawValue }
                try require(early == nil, "a scheduler.report came before the connection's scheduler.sync")
            },
            ContractCase("desired-leads-to-starting-then-ready", section: "§4 Scheduler role") { context in
                _ = try await context.ready()
            },
            ContractCase("each-report-names-its-pool", section: "§5 What a scheduler MUST do") { context in
                _ = try await context.inbox.next(.schedulerSubscribe)
                try context.push(desired: 1, pool: "p-kit-2")
                for _ in 0..<2 {
                    let ready = try await context.inbox.next(.schedulerReport, within: 10) {
                        $0.params["state"] == "ready"
                    }
                    let named = ready.params["pool"]?.stringValue ?? "none"
                    let url = ready.params["url"]?.stringValue ?? ""
                    let started = try await context.fixture(at: url).pool
                    try require(named == started, "a sandbox started for \(started) was reported in pool \(named)")
                }
            },
            ContractCase("a-sandbox-that-dies-is-reported-failed-with-a-reason", section: "§5 What a scheduler MUST do")
            { context in
                let (sandbox, url) = try await context.ready()
                kill(try await context.fixture(at: url).pid, SIGKILL)
                let failed = try await context.inbox.next(.schedulerReport, within: 10) {
                    $0.params["sandbox"]?.stringValue == sandbox
                        && ($0.params["state"] == "failed" || $0.params["state"] == "stopped")
                }
                try require(failed.params["state"] == "failed", "a sandbox killed by a signal was reported stopped")
                try require(
                    !(failed.params["reason"]?.stringValue ?? "").isEmpty,
                    "the failed report gives no reason"
                )
            },
            ContractCase("scale-down-leads-to-stopped", section: "§4 Scheduler role") { context in
                let (sandbox, url) = try await context.ready()
                let pid = try await context.fixture(at: url).pid
                try context.push(desired: 0)
                _ = try await context.inbox.next(.schedulerReport, within: 15) {
                    $0.params["state"] == "stopped" && $0.params["sandbox"]?.stringValue == sandbox
                }
                try require(!Kit.isRunning(pid), "\(sandbox) was reported stopped while its process still ran")
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
                // Only what comes after the drop counts: the first session's hello and sync may
                // still be waiting here.
                await context.inbox.skipBuffered()
                for connection in context.host.openConnections { context.host.drop(connection) }
                _ = try await context.inbox.next(RPCHandshake.helloMethod, within: 15)
                let sync = try await context.inbox.next(.schedulerSync, within: 15)
                let listed = sync.params["sandboxes"]?.arrayValue?.contains {
                    $0["sandbox"]?.stringValue == sandbox && $0["state"] == "ready"
                }
                try require(listed == true, "scheduler.sync after reconnecting did not list \(sandbox) as ready")
            },
            ContractCase("a-restarted-host-is-reconnected-to", section: "§5 What a scheduler MUST do") { context in
                let (sandbox, _) = try await context.ready()
                await context.inbox.skipBuffered()
                try await context.host.restart(after: .seconds(1))
                _ = try await context.inbox.next(RPCHandshake.helloMethod, within: 15)
                let sync = try await context.inbox.next(.schedulerSync, within: 15)
                let listed = sync.params["sandboxes"]?.arrayValue?.contains {
                    $0["sandbox"]?.stringValue == sandbox && $0["state"] == "ready"
                }
                try require(listed == true, "scheduler.sync to the restarted host did not list \(sandbox) as ready")
            },
            ContractCase(
                "sandboxes-outlive-sigterm-and-are-adopted",
                section: "§4 Scheduler role, Surviving SIGTERM",
                .should
            ) { context in
                let (sandbox, url) = try await context.ready()
                let pid = try await context.fixture(at: url).pid
                await context.inbox.skipBuffered()
                await context.restartPlugin()
                let sync = try await context.inbox.next(.schedulerSync, within: 15)
                // Checked once the next run synced: a sandbox its SIGTERM reached has ended by then.
                try require(Kit.isRunning(pid), "\(sandbox) ended with its scheduler's SIGTERM")
                let adopted = sync.params["sandboxes"]?.arrayValue?.contains {
                    $0["sandbox"]?.stringValue == sandbox && $0["state"] == "ready"
                }
                try require(adopted == true, "the scheduler started again did not take back \(sandbox)")
                try require(
                    try await context.fixture(at: url).pid == pid,
                    "\(url) is answered by another process than the adopted one"
                )
            },
            ContractCase(
                "scale-down-stops-the-newest-first",
                section: "§4 Scheduler role, Answering, scale-down and crashes",
                .should
            ) { context in
                _ = try await context.ready()
                try context.push(desired: 2)
                let (newest, _) = try await context.ready()
                try context.push(desired: 1)
                let stopped = try await context.inbox.next(.schedulerReport, within: 15) {
                    $0.params["state"] == "stopped"
                }
                let name = stopped.params["sandbox"]?.stringValue ?? "?"
                try require(name == newest, "scaled down from 2 to 1, it stopped \(name), not the newest, \(newest)")
            },
            ContractCase(
                "files-stay-in-a-directory-of-the-plugins-own",
                section: "§4 Scheduler role, Surviving SIGTERM"
            ) { context in
                _ = try await context.ready()
                let state = context.directory.path + "/state"
                let loose = ((try? FileManager.default.contentsOfDirectory(atPath: state)) ?? []).filter { name in
                    var isDirectory: ObjCBool = false
                    return FileManager.default.fileExists(atPath: state + "/" + name, isDirectory: &isDirectory)
                        && !isDirectory.boolValue
                }
                try require(loose.isEmpty, "files outside a directory of its own in BATON_STATE_DIR: \(loose.sorted())")
            },
            ContractCase(
                "a-dead-sandbox-is-replaced",
                section: "§4 Scheduler role, Answering, scale-down and crashes",
                .should
            ) { context in
                let (sandbox, url) = try await context.ready()
                kill(try await context.fixture(at: url).pid, SIGKILL)
                _ = try await context.inbox.next(.schedulerReport, within: 15) {
                    $0.params["state"] == "starting" && $0.params["sandbox"]?.stringValue != sandbox
                }
            },
            ContractCase("sigterm-ends-the-plugin-with-status-0", section: "§5 Plugins", .should) { context in
                _ = try await context.ready()
                let ended = await context.restartPlugin()
                try require(
                    ended?.status == .exited(0),
                    "on SIGTERM the plugin \(ended.map { "\($0)" } ?? "did not end")"
                )
            },
            ContractCase("a-refused-hello-ends-the-plugin", section: "§4 host.hello", .should) { context in
                _ = try await context.inbox.next(.schedulerSubscribe)
                context.refusing.withLockedValue { $0 = "the host speaks only baton/9.0" }
                await context.restartPlugin()
                let started = context.plugin
                let ended = try await within(10, "the plugin ending after its hello was refused") {
                    while started.ended == nil { try await Task.sleep(for: .milliseconds(100)) }
                    return started.ended
                }
                try require(ended.status != .exited(0), "refused for good, the plugin \(ended), as if all went well")
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

    /// Whether process `pid` still runs: it exists and is not a zombie waiting to be reaped.
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    /// GETs `path` at `url`; fails the case unless it answers 200.
    static func expectAnswer(from url: String, path: String, host: String = "kit") async throws {
        _ = try await get(url, path: path, host: host)
    }

    static func get(_ url: String, path: String, host: String) async throws -> String {
        let response = try await send(.GET, url, path: path, host: host)
        guard response.status == 200 else { throw CaseFailure("GET \(url)\(path) answered \(response.status)") }
        return String(buffer: response.body)
    }

    /// One request to `url`, on a connection of its own.
    static func send(
        _ method: HTTPMethod,
        _ url: String,
        path: String,
        host: String,
        body: String? = nil
    ) async throws -> LoadResponse {
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
        do {
            let response = try await connection.request(
                method,
                path,
                headers: headers,
                body: body.map { ByteBuffer(string: $0) }
            )
            await connection.close()
            return response
        } catch {
            await connection.close()
            throw error
        }
    }
}
