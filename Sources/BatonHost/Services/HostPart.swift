import ServiceLifecycle

/// One part of the host as a service: it starts, serves until its group shuts it down (or
/// cancels it), then stops. The group starts the parts together and shuts them down in the
/// reverse of their order.
struct HostPart: Service {
    let name: String
    var start: @Sendable () async throws -> Void = {}
    var stop: @Sendable () async -> Void = {}

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
}
