/// How the host decides a sandbox is really ready, beyond its scheduler's word: a GET of
/// `path` that must answer 2xx. Without one, a TCP connect to the sandbox's URL.
public struct HealthCheck: Sendable, Hashable {
    public var path: String

    public init(path: String) {
        self.path = path
    }
}
