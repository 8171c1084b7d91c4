/// `app.rollback`: the previous version that finished its rollover, deployed again through
/// the same gate as any deploy.
extension Launcher {
    /// Deploys again the request of the newest done deployment of `app` whose version is not
    /// the active one; its pools are taken back if they are still kept.
    public func rollback(app: AppName) async throws(CoreError) -> (deployment: DeploymentID, version: String) {
        try mustLead()
        guard let record = apps[app] else { throw .unknownApp(app) }
        let previous = record.deployments.reversed().lazy.compactMap { self.deployments[$0] }.first {
            $0.state == .done && $0.request.version != record.activeVersion
        }
        guard let previous else {
            throw CoreError(
                code: .nothingToRollBackTo,
                message:
                    "Nothing to roll back to: app \"\(app)\" has no finished rollover to a version other than \(record.activeVersion ?? "none")"
            )
        }
        let id = try await deploy(previous.request)
        return (id, previous.request.version)
    }
}
