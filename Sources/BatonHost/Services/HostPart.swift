import ServiceLifecycle

/// One part of the host as a service: it starts, serves until its group shuts it down (or
/// cancels it), then stops. What it runs while it serves (`serve`) is a child task of its
/// run, cancelled once it has stopped. The group starts the parts together and shuts them
/// down in the reverse of their order.
struct HostPart: Service, CustomStringConvertible {
    /// How the group's log lines name it.
    let name: String
    let start: @Sendable () async throws -> Void
    let serve: @Sendable () async -> Void
    let stop: @Sendable () async -> Void

    /// A part that listens, and says so once it is bound.
    init(
        name: String,
        reaching listening: Milestone,
        start: @escaping @Sendable () async throws -> Void,
        serve: @escaping @Sendable () async -> Void = {},
        stop: @escaping @Sendable () async -> Void
    ) {
        self.init(
            name: name,
            start: {
                try await start()
                listening.reach()
            },
            serve: serve,
            stop: stop
        )
    }

    init(
        name: String,
        start: @escaping @Sendable () async throws -> Void = {},
        serve: @escaping @Sendable () async -> Void = {},
        stop: @escaping @Sendable () async -> Void = {}
    ) {
        self.name = name
        self.start = start
        self.serve = serve
        self.stop = stop
    }

    func run() async throws {
        do {
            try await start()
        } catch {
            await stop()  // what started before the failure stops too
            throw error
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await serve() }
            try? await gracefulShutdown()  // returns on shutdown, throws on cancellation: both end the part
            await stop()
            group.cancelAll()
        }
    }

    var description: String { name }
}
