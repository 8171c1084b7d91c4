import NIOConcurrencyHelpers

/// The HTTP-01 challenges an ACME order has open (RFC 8555 §8.3): the ingress answers
/// `GET /.well-known/acme-challenge/TOKEN` on plain HTTP from here, before routing, for any host.
public final class ChallengeBoard: Sendable {
    /// Where the challenges are asked for.
    public static let pathPrefix = "/.well-known/acme-challenge/"

    private let answers = NIOLockedValueBox<[String: String]>([:])

    public init() {}

    public func post(token: String, keyAuthorization: String) {
        answers.withLockedValue { $0[token] = keyAuthorization }
    }

    public func withdraw(token: String) {
        answers.withLockedValue { _ = $0.removeValue(forKey: token) }
    }

    /// The key authorization for a request's target, or nil when it asks for no open challenge.
    public func answer(target: String) -> String? {
        guard target.hasPrefix(Self.pathPrefix) else { return nil }
        let token = target.dropFirst(Self.pathPrefix.count)
        return answers.withLockedValue { $0[String(token)] }
    }
}
