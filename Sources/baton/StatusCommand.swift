import ArgumentParser
import BatonAdmin
import BatonJSON
import BatonProtocol
import BatonRPC
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show apps and routes, or one app's deployments, pools, sandboxes and leases."
    )

    @OptionGroup var admin: AdminOptions
    @Flag(help: "Print JSON for scripts instead of tables.")
    var json = false
    @Argument(help: "The app to show; every app when left out.")
    var app: String?

    func run() async throws {
        try await HostSession.reporting("status", socket: admin.socket.socket) {
            try await HostSession.with(socket: admin.socket.socket, tokenFile: admin.tokenFile, name: "baton-status") {
                client in
                if let app {
                    let status = try await client.call(.appStatus, ["app": .string(app)])
                    print(json ? try status.serializedString() : Self.describe(app: status))
                } else {
                    let apps = try await client.call(.appList)
                    let routes = try await client.call(.routeList)
                    let both: JSON = ["apps": apps["apps"] ?? [], "routes": routes["routes"] ?? []]
                    print(json ? try both.serializedString() : Self.describe(overview: both))
                }
            }
        }
    }

    private static func text(_ value: JSON?) -> String {
        switch value {
        case .string(let text)?: text
        case .int(let number)?: "\(number)"
        case .bool(let flag)?: flag ? "yes" : "no"
        default: "-"
        }
    }

    static func describe(overview: JSON) -> String {
        var apps = TextTable("APP", "PHASE", "ACTIVE", "LATEST DEPLOYMENT", "STATE")
        for app in overview["apps"]?.arrayValue ?? [] {
            apps.add(
                text(app["app"]),
                text(app["phase"]),
                text(app["activeVersion"]),
                text(app["deployment"]),
                text(app["state"])
            )
        }
        var routes = TextTable("HOST", "PATH", "APP", "CERTIFICATE")
        for route in overview["routes"]?.arrayValue ?? [] {
            let prefix = route["pathPrefix"]?.stringValue ?? "/"
            let path = route["stripPrefix"] == .bool(true) ? prefix + " (stripped)" : prefix
            routes.add(text(route["host"]), path, text(route["app"]), certificate(route["certificate"]))
        }
        return apps.text + "\n\n" + routes.text
    }

    /// "-" without HTTPS, else until when it serves, what is wrong with it, and what ACME is doing.
    private static func certificate(_ status: JSON?) -> String {
        guard let status else { return "-" }
        let until = status["notAfter"]?.stringValue.map { "until \($0)" }
        let acme = status["acme"]?.stringValue.map { "ACME: \($0)" }
        return [until, status["problem"]?.stringValue, acme].compactMap { $0 }.joined(separator: "; ")
    }

    static func describe(app status: JSON) -> String {
        let routes = (status["routes"]?.arrayValue ?? []).map { text($0) }.joined(separator: ", ")
        var out =
            "app \(text(status["app"])) (\(text(status["phase"]))): active version \(text(status["activeVersion"])); routes: \(routes.isEmpty ? "none" : routes)\n"
        if let cluster = status["cluster"] {
            out += "node \(text(cluster["node"])) of a cluster led by \(text(cluster["leader"]))\n\n"
            var nodes = TextTable("NODE", "SANDBOXES", "IN FLIGHT")
            for node in cluster["perNode"]?.arrayValue ?? [] {
                nodes.add(text(node["node"]), text(node["sandboxes"]), text(node["inFlight"]))
            }
            out += nodes.text + "\n"
        }
        out += "\n"
        var deployments = TextTable("DEPLOYMENT", "VERSION", "STATE", "REASON")
        for deployment in status["deployments"]?.arrayValue ?? [] {
            deployments.add(
                text(deployment["deployment"]),
                text(deployment["version"]),
                text(deployment["state"]),
                text(deployment["reason"])
            )
        }
        var pools = TextTable(
            "POOL",
            "SERVICE",
            "VERSION",
            "DESIRED",
            "STARTING",
            "READY",
            "DRAINING",
            "STOPPED",
            "FAILED",
            "SCHEDULER",
            "WAITING",
            "STOP"
        )
        for pool in status["pools"]?.arrayValue ?? [] {
            let counts = pool["sandboxes"]
            pools.add(
                text(pool["pool"]),
                text(pool["service"]),
                text(pool["version"]),
                text(pool["desired"]),
                text(counts?["starting"]),
                text(counts?["ready"]),
                text(counts?["draining"]),
                text(counts?["stopped"]),
                text(counts?["failed"]),
                text(pool["scheduler"]),
                text(pool["waiting"]),
                text(pool["stop"])
            )
        }
        var sandboxes = TextTable(
            "SANDBOX",
            "NODE",
            "POOL",
            "STATE",
            "URL",
            "ADMITTED",
            "SUSPECT",
            "LEASES",
            "SLOTS OUT",
            "REASON"
        )
        for sandbox in status["sandboxes"]?.arrayValue ?? [] {
            sandboxes.add(
                text(sandbox["sandbox"]),
                text(sandbox["node"]),
                text(sandbox["pool"]),
                text(sandbox["state"]),
                text(sandbox["url"]),
                text(sandbox["admitted"]),
                text(sandbox["suspect"]),
                text(sandbox["leases"]),
                text(sandbox["slotsOut"]),
                text(sandbox["reason"])
            )
        }
        out += deployments.text + "\n\n" + pools.text + "\n\n" + sandboxes.text
        return out
    }
}
