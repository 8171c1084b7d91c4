import BatonCore
import BatonHTTP1

/// What becomes of a request head, whatever connection it came on: refused by the checks,
/// an ACME challenge answered, unrouted, redirected to HTTPS, or an exchange for its route's app. Logged and counted
/// here, once, for HTTP/1.1 and HTTP/2 alike.
enum RequestAdmission {
    case refused(ResponseStatus, String)
    /// An answer of the ingress's own, 200 with `body`: an open ACME challenge.
    case answered(body: String)
    case redirected(location: String)
    /// `wantsContinue`: the client waits for `100 Continue` before it sends the body.
    case admitted(ProxyExchange, wantsContinue: Bool)
}

extension IngressContext {
    func admit(_ head: RequestHead, framing: MessageFraming, scheme: RequestScheme) -> RequestAdmission {
        var checked: CheckedRequest
        switch RequestCheck.check(head, framing: framing) {
        case .success(let valid): checked = valid
        case .failure(let refusal):
            logger.info(
                "request",
                metadata: [
                    "status": "\(refusal.status.code)", "method": "\(head.method)", "reason": "\(refusal.reason)",
                ]
            )
            metrics.request(app: "-", status: "\(refusal.status.code)")
            return .refused(refusal.status, refusal.reason)
        }
        // ACME's server asks over plain HTTP for a host that may have no route yet (RFC 8555 §8.3).
        if scheme == .http, head.method == "GET", let answer = challenges?.answer(target: checked.target) {
            logger.info("request", metadata: ["status": "200", "method": "GET", "path": "\(checked.target)"])
            metrics.request(app: "-", status: "200")
            return .answered(body: answer)
        }
        guard let route = routes.route(forHost: checked.authority, target: checked.target) else {
            let message =
                "No route for host \(checked.authority ?? "(none)") and path \(checked.target.prefix { $0 != "?" })."
            logger.info(
                "request",
                metadata: [
                    "status": "404", "method": "\(head.method)", "path": "\(checked.target)", "reason": "\(message)",
                ]
            )
            metrics.request(app: "-", status: "404")
            return .refused(.notFound, message)
        }
        if scheme == .http, route.redirectToHttps, let port = httpsPort.withLockedValue({ $0 }) {
            logger.info(
                "request",
                metadata: [
                    "status": "308", "method": "\(head.method)", "path": "\(checked.target)", "app": "\(route.app)",
                ]
            )
            metrics.request(app: route.app, status: "308")
            return .redirected(location: checked.httpsLocation(host: route.host, port: port))
        }
        checked.scheme = scheme
        checked.apply(route)
        let exchange = ProxyExchange(
            head: head,
            checked: checked,
            app: route.app,
            service: "web",
            requestID: head.fields.first(HeadWriter.requestID) ?? ProxyHandler.newRequestID(),
            configuration: configuration,
            deadline: .nanoseconds(configuration.responseHeaderTimeout.nanoseconds)
        )
        // The body is wanted whatever sandbox takes it; the Expect header goes no further.
        return .admitted(exchange, wantsContinue: head.fields.first(.expect)?.lowercased() == "100-continue")
    }
}
