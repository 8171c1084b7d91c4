import BatonJSON
import Crypto
import Foundation

/// The ACME account's key (P-256), and the JSON Web Signatures (RFC 7515, ES256) that carry
/// every request to the server (RFC 8555 §6.2).
struct AccountKey: Sendable {
    let key: P256.Signing.PrivateKey

    init(key: P256.Signing.PrivateKey = P256.Signing.PrivateKey()) {
        self.key = key
    }

    init(pem: String) throws {
        key = try P256.Signing.PrivateKey(pemRepresentation: pem)
    }

    var pem: String { key.pemRepresentation }

    /// The public key as a JWK, members in the lexicographic order its thumbprint needs.
    var jwk: JSON {
        // The x9.63 form is 0x04, then x and y of 32 bytes each.
        let point = key.publicKey.x963Representation.dropFirst()
        return [
            "crv": "P-256",
            "kty": "EC",
            "x": .string(Base64URL.encode(point.prefix(32))),
            "y": .string(Base64URL.encode(point.suffix(32))),
        ]
    }

    /// RFC 7638: SHA-256 of the JWK's required members, compact and in order.
    var thumbprint: String {
        get throws { Base64URL.encode(SHA256.hash(data: try jwk.serialized())) }
    }

    /// What answers an HTTP-01 challenge for `token` (RFC 8555 §8.1).
    func keyAuthorization(token: String) throws -> String { token + "." + (try thumbprint) }

    /// Who signs: the JWK itself until the account exists, then the account's URL.
    enum Signer: Sendable {
        case jwk
        case account(url: String)
    }

    /// A flattened JWS (RFC 7515 §7.2.2) of `payload` for `url`; nil as the payload is a
    /// POST-as-GET, with an empty payload.
    func sign(_ payload: JSON?, url: String, nonce: String, as signer: Signer) throws -> JSON {
        var protected: JSONObject = ["alg": "ES256", "nonce": .string(nonce), "url": .string(url)]
        switch signer {
        case .jwk: protected["jwk"] = jwk
        case .account(let url): protected["kid"] = .string(url)
        }
        let header = Base64URL.encode(try JSON.object(protected).serialized())
        let body = try payload.map { Base64URL.encode(try $0.serialized()) } ?? ""
        let signature = try key.signature(for: Array("\(header).\(body)".utf8))
        return [
            "protected": .string(header),
            "payload": .string(body),
            // ES256 is the raw r and s, 32 bytes each, not DER (RFC 7518 §3.4).
            "signature": .string(Base64URL.encode(signature.rawRepresentation)),
        ]
    }
}

/// Base64 with the URL's alphabet and no padding (RFC 7515 §2).
enum Base64URL {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
