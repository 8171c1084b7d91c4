import AsyncHTTPClient
import BatonJSON
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// One answer of the ACME server: its status, the headers ACME reads, and its body.
struct ACMEResponse: Sendable {
    var status: Int
    var location: String?
    var nonce: String?
    var retryAfter: Duration?
    var body: [UInt8]

    /// The body as JSON; an answer that should be JSON and is not is a problem.
    func json() throws(ACMEProblem) -> JSON {
        do { return try JSON.parse(body) } catch { throw ACMEProblem("the server's answer is not JSON (\(error))") }
    }
}

/// HTTPS to the ACME server, with the roots `--acme-ca-root` names or the system's, each
/// answer read up to `acme.maxResponseBytes`.
struct ACMETransport: Sendable {
    private let http: HTTPClient
    private let maxResponseBytes: Int

    init(caRootFile: String?, maxResponseBytes: Int) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caRootFile { tls.trustRoots = .file(caRootFile) }
        http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        )
        self.maxResponseBytes = maxResponseBytes
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    func send(
        _ method: HTTPMethod,
        _ url: String,
        body: JSON? = nil,
        accept: String = "application/json",
        deadline: NIODeadline
    ) async throws(ACMEProblem) -> ACMEResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: accept)
        request.headers.add(name: "User-Agent", value: "baton-acme")
        if let body {
            do { request.body = .bytes(try body.serialized()) } catch { throw ACMEProblem("cannot write \(error)") }
            request.headers.add(name: "Content-Type", value: "application/jose+json")
        }
        do {
            let response = try await http.execute(request, deadline: deadline)
            let bytes: ByteBuffer
            do {
                bytes = try await response.body.collect(upTo: maxResponseBytes)
            } catch is NIOTooManyBytesError {
                throw ACMEProblem("\(url) answered more than \(maxResponseBytes) bytes (acme.maxResponseBytes)")
            }
            return ACMEResponse(
                status: Int(response.status.code),
                location: response.headers.first(name: "Location"),
                nonce: response.headers.first(name: "Replay-Nonce"),
                retryAfter: response.headers.first(name: "Retry-After").flatMap(Int64.init).map { .seconds($0) },
                body: Array(bytes.readableBytesView)
            )
        } catch let problem as ACMEProblem {
            throw problem
        } catch {
            throw ACMEProblem("cannot reach \(url): \(error)")
        }
    }
}
