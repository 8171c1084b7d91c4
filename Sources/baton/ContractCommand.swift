import ArgumentParser
import BatonContract
@preconcurrency import Foundation
@preconcurrency import Glibc

struct ContractCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contract",
        abstract: "Check that a scheduler, a router or a host speaks the protocol (protocol/PROTOCOL.md).",
        discussion: """
            One line per case: PASS, FAIL (with the spec section and the lines exchanged) or SKIP. Exits 1 when a \
            MUST case failed, or with --strict any case.
            """,
        subcommands: [
            HostContract.self, SchedulerContract.self, RouterContract.self, ContractList.self, FixtureApp.self,
        ]
    )
}

struct ContractList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract:
            "List every case of the kits with the rule of protocol/PROTOCOL.md it checks, or every rule with its cases."
    )

    @Flag(help: "Print the table as Markdown, as PROTOCOL.md has it.")
    var markdown = false
    @Flag(help: "List every MUST and SHOULD of PROTOCOL.md instead, with the cases that check it.")
    var rules = false

    func run() {
        if rules {
            if markdown { return print(ProtocolRules.markdownTable, terminator: "") }
            var table = TextTable("RULE", "SECTION", "CHECKED BY")
            for rule in ProtocolRules.all {
                table.add(
                    rule.text,
                    rule.section,
                    (rule.cases + (rule.note.map { [$0] } ?? [])).joined(separator: "; ")
                )
            }
            return print(table.text)
        }
        if markdown { return print(ContractCatalog.markdownTable, terminator: "") }
        var table = TextTable("KIT", "CASE", "LEVEL", "RULE")
        for entry in ContractCatalog.entries {
            table.add(entry.kit, entry.name, entry.requirement.rawValue, entry.section)
        }
        print(table.text)
    }
}

/// `--run`, `--skip`, `--strict`, `--junit`, shared by every kit.
struct KitOptions: ParsableArguments {
    @Option(help: "Run only the cases whose name matches this regular expression.")
    var run: String?
    @Option(help: "Skip the cases whose name matches this regular expression.")
    var skip: String?
    @Flag(help: "Fail on SHOULD cases too.")
    var strict = false
    @Option(help: "Also write the outcomes as JUnit XML to this file.")
    var junit: String?

    /// The plugin's command as given after `--`; also makes the case lines show at once.
    static func pluginCommand(_ arguments: [String]) throws -> [String] {
        let command = arguments.first == "--" ? Array(arguments.dropFirst()) : arguments
        guard !command.isEmpty else { throw ValidationError("give the plugin's command after --") }
        setvbuf(stdout, nil, _IOLBF, 0)
        return command
    }

    func runner() throws -> ContractRunner {
        do {
            return try ContractRunner(run: run, skip: skip, strict: strict) { print($0) }
        } catch {
            throw ValidationError("--run and --skip take regular expressions: \(error)")
        }
    }

    /// Writes the JUnit file if asked and exits as the outcomes say.
    func finish(_ outcomes: [ContractRunner.Outcome], runner: ContractRunner, suite: String) throws {
        if let junit {
            try ContractRunner.junit(outcomes, suite: suite).write(toFile: junit, atomically: true, encoding: .utf8)
        }
        if runner.failed(outcomes) { throw ExitCode.failure }
    }
}

struct SchedulerContract: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Start a scheduler plugin against a mock host and check the scheduler rules.",
        discussion: "The plugin gets BATON_SOCKET, BATON_ROLE, BATON_TOKEN and BATON_STATE_DIR as from a host."
    )

    @OptionGroup var kit: KitOptions
    @Argument(parsing: .captureForPassthrough, help: "The plugin's command, after --.")
    var command: [String]

    func run() async throws {
        let command = try KitOptions.pluginCommand(command)
        let runner = try kit.runner()
        let schedulerKit = SchedulerKit(
            command: command,
            fixtureCommand: [ServeCommand.siblingExecutable("baton"), "contract", "fixture-app"]
        )
        try kit.finish(await schedulerKit.run(runner), runner: runner, suite: "scheduler")
    }
}

struct HostContract: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Play admin, scheduler and router against a running host and check what it promises.",
        discussion: "Each scenario uses an app of its own and sends its pools to the kit's scheduler by name."
    )

    @OptionGroup var socket: SocketOptions
    @OptionGroup var kit: KitOptions
    @Option(help: "The directory of wire transcripts (*.jsonl) to replay.")
    var transcripts = "protocol/transcripts"
    @Option(help: "The directory of JSON Schemas every result is checked against; none to skip.")
    var schemas = "protocol/schemas"

    func run() async throws {
        setvbuf(stdout, nil, _IOLBF, 0)
        let runner = try kit.runner()
        let loaded: [Transcript]
        do {
            loaded = try Transcript.load(directory: transcripts)
        } catch {
            throw ValidationError("cannot read the transcripts in \(transcripts): \(error)")
        }
        let validator = schemas == "none" ? nil : try? SchemaValidator(directory: schemas)
        if validator == nil && schemas != "none" {
            print("note: no schemas in \(schemas); results are not checked against them")
        }
        try kit.finish(
            await HostKit(socket: socket.socket, transcripts: loaded, schemas: validator).run(runner),
            runner: runner,
            suite: "host"
        )
    }
}

struct RouterContract: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract: "Start a router against a mock host and the kit's backends, and check the router rules.",
        discussion:
            "The router gets BATON_SOCKET, BATON_ROLE, BATON_TOKEN, BATON_APP (the app to route) and PORT (where to listen)."
    )

    @OptionGroup var kit: KitOptions
    @Argument(parsing: .captureForPassthrough, help: "The router's command, after --.")
    var command: [String]

    func run() async throws {
        let command = try KitOptions.pluginCommand(command)
        let runner = try kit.runner()
        try kit.finish(await RouterKit(command: command).run(runner), runner: runner, suite: "router")
    }
}

/// The app the scheduler kit has plugins run as a sandbox.
struct FixtureApp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fixture-app",
        abstract: "Serve 200 on $PORT with \"NAME PID\" (the kit's sandbox app).",
        shouldDisplay: false
    )

    @Option(help: "What it answers before its pid: the kit gives each pool's sandboxes the pool's id.")
    var name = "fixture"

    func run() async throws {
        let port = ProcessInfo.processInfo.environment["PORT"].flatMap(Int.init) ?? 0
        let server = try await FixtureServer.start(name: "\(name) \(getpid())", port: port)
        try await server.wait()
    }
}
