/// `app.pause` and `app.resume`, for maintenance: while an app is paused no lease of it is
/// handed out, so requests wait (the ingress holds them, up to its hold timeout) and the
/// requests already running finish. Resumed, the waiting requests go first, in order.
extension Launcher {
    public func pause(app: AppName) async throws(CoreError) {
        try mustLead()
        defer { commit() }
        guard try operable(app).phase == .serving else { return }
        apps[app]?.phase = .paused
        changed.apps.insert(app)
        await broker.pause(app: app, reason: .paused)
        publish(.init(.appPaused, app: app, version: apps[app]?.activeVersion))
    }

    public func resume(app: AppName) async throws(CoreError) {
        try mustLead()
        defer { commit() }
        guard try operable(app).phase == .paused else { return }
        apps[app]?.phase = .serving
        changed.apps.insert(app)
        await broker.resume(app: app)
        publish(.init(.appResumed, app: app, version: apps[app]?.activeVersion))
    }
}
