import ServiceLifecycle

/// One part of the host as a service: it starts, serves until its group shuts it down (or
/// cancels it), then stops. The group starts the parts together and shuts them down in the
/// reverse of their order.
struct HostPart: Service, CustomStringConvertible {
    /// How the group's log lines name it.
    let name: String
    let start: @Sendable () async throws -> Void
    let stop: @Sendable () async -> Void

    /// A part that listens, and says so once it is bound.
    init(
        name: String,
        reaching listening: Milestone,
        start: @escaping @Sendable () async throws -> Void,
        stop: @escaping @Sendable () async -> Void
    ) {
        self.name = name
        self.start = {
            try await start()
            listening.reach()
        }
        self.stop = stop
    }

    init(
        name: String,
        start: @escaping @Sendable () async throws -> Void = {},
        stop: @escaping @Sendable () async -> Void = {}
    ) {
        self.name = name
        self.start = start
        self.stop = stop
    }

    func run() async throws {
        do {
            try await start()
        } catch {
            await stop()  // what started before the failure stops too
            throw error
        }
        try? await gracefulShutdown()  // returns on shutdown, throws on cancellation: both end the part
        await stop()
    }

    var description: String { name }
}
