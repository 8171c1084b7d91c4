import ArgumentParser
import BatonAdmin
import BatonJSON
import BatonProtocol
import BatonRPC

/// The operator's verbs between deploys: scale, pause, resume and remove.
struct ScaleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Set how many sandboxes a service of an app's active version runs; 0 stops it.",
        discussion: """
            Scaled to 0, the service takes no new requests (they wait, then get 503) and its sandboxes drain \
            as after a cutover before they stop. The next deploy sets the count its spec gives.
            """
    )

    @OptionGroup var admin: AdminOptions
    @Option(help: "How long requests in flight get before a service scaled to 0 stops anyway, in ms.")
    var drainTimeoutMs: Int64?
    @Argument(help: "The app.") var app: String
    @Argument(help: "The service of its active version.") var service: String
    @Argument(help: "How many sandboxes, 0 to stop it.") var instances: Int64

    func run() async throws {
        var params: JSONObject = ["app": .string(app), "service": .string(service), "instances": .int(instances)]
        params["drainTimeoutMs"] = drainTimeoutMs.map(JSON.int)
        try await admin.call(.appScale, .object(params), command: "scale")
        print(instances == 0 ? "\(app) \(service): drains, then stops" : "\(app) \(service): \(instances) instance(s)")
    }
}

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Hold an app's new requests for maintenance; requests in flight finish.",
        discussion: "Held requests go on once the app is resumed, or get 503 after the ingress's hold timeout."
    )

    @OptionGroup var admin: AdminOptions
    @Argument(help: "The app.") var app: String

    func run() async throws {
        try await admin.call(.appPause, ["app": .string(app)], command: "pause")
        print("\(app): paused")
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Serve a paused app again, the requests it held first."
    )

    @OptionGroup var admin: AdminOptions
    @Argument(help: "The app.") var app: String

    func run() async throws {
        try await admin.call(.appResume, ["app": .string(app)], command: "resume")
        print("\(app): serving")
    }
}

struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Drain an app, stop its sandboxes, and forget it and its routes.",
        discussion: "Exits once the host has forgotten the app."
    )

    @OptionGroup var admin: AdminOptions
    @Option(help: "How long requests in flight get before the app's sandboxes stop anyway, in ms.")
    var drainTimeoutMs: Int64?
    @Argument(help: "The app.") var app: String

    func run() async throws {
        var params: JSONObject = ["app": .string(app)]
        params["drainTimeoutMs"] = drainTimeoutMs.map(JSON.int)
        try await HostSession.reporting("remove", socket: admin.socket.socket) {
            try await HostSession.with(socket: admin.socket.socket, tokenFile: admin.tokenFile, name: "baton-remove") {
                client in
                let events = client.notifications
                _ = try await client.call(.eventsWatch, ["apps": [.string(app)]])  // before, so none is missed
                _ = try await client.call(.appRemove, .object(params))
                print("\(app): draining")
                for await event in events where event.is(.event) {
                    if event.params?["type"] == .string(EventType.appRemoved.rawValue) { break }
                }
            }
        }
        print("\(app): removed")
    }
}

/// The socket and token of an admin command.
struct AdminOptions: ParsableArguments {
    @OptionGroup var socket: SocketOptions
    @Option(help: "A file holding the admin token, for hosts that require one.")
    var tokenFile: String?

    /// One admin call; an error answer is one line on stderr and exit status 1.
    func call(_ method: ProtocolMethod, _ params: JSON, command: String) async throws {
        try await HostSession.reporting(command, socket: socket.socket) {
            try await HostSession.with(socket: socket.socket, tokenFile: tokenFile, name: "baton-\(command)") {
                _ = try await $0.call(method, params)
            }
        }
    }
}
