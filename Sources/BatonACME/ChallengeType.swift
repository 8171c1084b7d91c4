/// How an order proves that the host controls a name; the ingress answers both itself.
enum ChallengeType: String, CaseIterable, Sendable, Hashable {
    /// RFC 8555 §8.3: a file over plain HTTP on port 80.
    case http01 = "http-01"
    /// RFC 8737: a certificate made for the challenge, over TLS on port 443, for a host whose
    /// port 80 the server cannot reach.
    case tlsALPN01 = "tls-alpn-01"
}
