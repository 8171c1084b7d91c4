/// `app.rollback`: the previous version that finished its rollover, deployed again through
/// the same gate as any deploy.
extension Launcher {
    /// Deploys again the request of the newest done deployment of `app` whose version is not
    /// the active one; its pools are taken back if they are still kept. A rollback sent again
    /// with its `requestID` is the one it was the first time.
    public func rollback(
        app: AppName,
        requestID: String? = nil
    ) async throws(CoreError) -> (deployment: DeploymentID, version: String) {
        try mustLead()
        if let earlier = deployment(keyedBy: requestID, of: app), let request = deployments[earlier]?.request {
            return (earlier, request.version)
        }
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
        var request = previous.request
        request.requestID = requestID
        let id = try await deploy(request)
        return (id, request.version)
    }

    /// The deployment of `app` that the caller keyed with `requestID`, while it is kept.
    func deployment(keyedBy requestID: String?, of app: AppName) -> DeploymentID? {
        guard let requestID else { return nil }
        return apps[app]?.deployments.first { deployments[$0]?.request.requestID == requestID }
    }
}
