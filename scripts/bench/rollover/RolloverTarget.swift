/// Something clients reach through one port, rolled from version to version by the benchmark.
protocol RolloverTarget: Sendable {
    /// Where clients connect.
    var port: Int { get }
    /// Serves v1.
    func start() async throws
    /// Replaces the serving version with `version`; returns once the old one is gone.
    func rollOver(to version: String) async throws -> RolloverStep
    /// Deploys a version that never becomes ready; returns, in words, what became of it.
    func deployNeverReady(version: String) async throws -> String
    func stop() async
}

struct RolloverStep: Sendable {
    var version: String
    /// When the new version was known ready; nil when traffic moved before anyone checked.
    var readyAt: ContinuousClock.Instant?
    /// The host's own ready report → cutover time, when it has one.
    var hostReadyToCutoverMs: Int64?
}

/// How an operator rolls a peer proxy over.
enum RolloverOrder: String, Sendable, CaseIterable {
    /// Start new, wait until it answers its health check, switch, let the old one drain, stop it.
    case careful
    /// Start new, switch, stop old, all at once.
    case naive
}
