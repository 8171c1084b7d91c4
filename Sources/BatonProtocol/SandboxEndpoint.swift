/// Where a sandbox listens, from the `http://host[:port][/...]` URL its scheduler reported.
public struct SandboxEndpoint: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init?(_ url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let authority = url.dropFirst("http://".count).prefix { $0 != "/" }
        guard let colon = authority.lastIndex(of: ":") else {
            guard !authority.isEmpty else { return nil }
            host = String(authority)
            port = 80
            return
        }
        guard colon != authority.startIndex, let port = Int(authority[authority.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        host = String(authority[..<colon])
        self.port = port
    }
}
