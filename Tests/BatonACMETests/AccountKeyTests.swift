import BatonJSON
import Crypto
import Foundation
import Testing

@testable import BatonACME

/// The JWS that carries every ACME request, and the thumbprint in every key authorization,
/// checked against their RFCs by computations of the test's own.
struct AccountKeyTests {
    static func decode(_ text: String) throws -> Data {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return try #require(Data(base64Encoded: base64))
    }

    @Test func theThumbprintIsTheSHA256OfTheCanonicalJWK() throws {
        let key = AccountKey()
        let x = try #require(key.jwk["x"]?.stringValue)
        let y = try #require(key.jwk["y"]?.stringValue)
        #expect(try Self.decode(x).count == 32 && Self.decode(y).count == 32)
        // RFC 7638 §3: the required members, in lexicographic order, no whitespace.
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        let expected = Base64URL.encode(SHA256.hash(data: Array(canonical.utf8)))
        #expect(try key.thumbprint == expected)
        #expect(try key.keyAuthorization(token: "tok") == "tok." + expected)
    }

    @Test func aSignedRequestVerifiesWithTheAccountKeyAndNamesItsURLAndNonce() throws {
        let key = AccountKey()
        let body = try key.sign(
            ["csr": "abc"],
            url: "https://ca/finalize/1",
            nonce: "n1",
            as: .account(url: "https://ca/acct/7")
        )
        let protected = try JSON.parse(try Self.decode(try #require(body["protected"]?.stringValue)))
        #expect(
            protected["alg"] == "ES256" && protected["nonce"] == "n1" && protected["url"] == "https://ca/finalize/1"
        )
        #expect(protected["kid"] == "https://ca/acct/7" && protected["jwk"] == nil, "kid or jwk, never both")
        let payload = try JSON.parse(try Self.decode(try #require(body["payload"]?.stringValue)))
        #expect(payload["csr"] == "abc")
        let signed = Array("\(body["protected"]!.stringValue!).\(body["payload"]!.stringValue!)".utf8)
        let signature = try P256.Signing.ECDSASignature(
            rawRepresentation: try Self.decode(try #require(body["signature"]?.stringValue))
        )
        #expect(key.key.publicKey.isValidSignature(signature, for: signed))
        #expect(!key.key.publicKey.isValidSignature(signature, for: signed + [0]))
    }

    @Test func aNewAccountIsSignedWithTheJWKAndAPostAsGetHasAnEmptyPayload() throws {
        let key = AccountKey()
        let body = try key.sign(nil, url: "https://ca/new-acct", nonce: "n2", as: .jwk)
        let protected = try JSON.parse(try Self.decode(try #require(body["protected"]?.stringValue)))
        #expect(protected["jwk"] == key.jwk && protected["kid"] == nil)
        #expect(body["payload"] == "")
    }

    @Test func theKeyIsKeptAndReadBackAsPEM() throws {
        let key = AccountKey()
        let again = try AccountKey(pem: key.pem)
        #expect(try again.thumbprint == key.thumbprint)
        #expect(throws: (any Error).self) { try AccountKey(pem: "not a key") }
    }
}
