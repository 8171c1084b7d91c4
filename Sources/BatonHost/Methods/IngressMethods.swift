import BatonCore
import BatonIngress
import BatonJSON
import BatonRPC
import Foundation
import NIOCore

/// `ingress.request`: a request from inside the platform to any service of an app, through
/// the same leases, retries and holds as HTTP traffic; each service has its own leases, so a
/// worker's sandbox never serves web traffic.
enum IngressMethods {

    static func all(ingress: IngressServer, defaultTimeout: TimeAmount) -> [RPCMethod] {
        [
            // Like an HTTP request, it takes effect when it reaches a sandbox, not in the
            // session's order: its effect here is only the check of its params.
            .waiting(.ingressRequest) { call in
                let params = try call.namedParams()
                let app: AppName = try params.id("app")
                let service = try params.optionalString("service") ?? "web"
                let methodName = try params.optionalString("method") ?? "GET"
                guard RequestCheck.isToken(methodName), methodName != "CONNECT" else {
                    throw RPCError.invalidParams("method must be an HTTP method token other than CONNECT")
                }
                let path = try params.optionalString("path") ?? "/"
                guard RequestCheck.isOriginTarget(path) else {
                    throw RPCError.invalidParams("path must start with / and hold only visible ASCII, no spaces")
                }
                var headers: [(String, String)] = []
                if let raw = params.members["headers"], raw != .null {
                    guard let object = raw.objectValue else {
                        throw RPCError.invalidParams("headers must be an object of strings")
                    }
                    for member in object.members {
                        guard let value = member.value.stringValue else {
                            throw RPCError.invalidParams("header \(member.key) must be a string")
                        }
                        guard RequestCheck.isToken(member.key), RequestCheck.isFieldValue(value) else {
                            throw RPCError.invalidParams(
                                "header names must be tokens and values must not hold CR, LF or NUL"
                            )
                        }
                        headers.append((member.key, value))
                    }
                }
                var body: ByteBuffer?
                if let encoded = try params.optionalString("body") {
                    guard let bytes = Data(base64Encoded: encoded) else {
                        throw RPCError.invalidParams("body must be base64")
                    }
                    body = ByteBuffer(bytes: bytes)
                }
                let timeout =
                    try params.optionalInt("timeoutMs", in: 1...WireLimits.timeoutMs.upperBound).map {
                        TimeAmount.milliseconds($0)
                    } ?? defaultTimeout
                return RPCRemainder { [headers, body] in
                    let response: InternalResponse
                    do {
                        response = try await ingress.request(
                            app: app,
                            service: service,
                            method: methodName,
                            path: path,
                            headers: headers,
                            body: body,
                            timeout: timeout
                        )
                    } catch {
                        throw RPCError(.requestFailed, message: "Request failed: \(error)")
                    }
                    var responseHeaders = JSONObject()
                    for (name, value) in response.headers { responseHeaders[name] = .string(value) }
                    return [
                        "status": .int(Int64(response.status)), "headers": .object(responseHeaders),
                        "body": .string(Data(response.body.readableBytesView).base64EncodedString()),
                    ]
                }
            }
        ]
    }
}
