import NIOHTTP1

/// Header rewriting between client and sandbox, both ways.
enum ProxyHeaders {
    /// Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1).
    private static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// Removes hop-by-hop headers, and any header the `Connection` header names. One pass
    /// finds them; most heads have none but `Connection`, so nothing else is rebuilt.
    static func stripHopByHop(_ headers: inout HTTPHeaders) {
        let named = headers[canonicalForm: "connection"]
        var doomed: [String] = []
        for (name, _) in headers {
            let lowered = name.lowercased()
            if hopByHop.contains(lowered)
                || named.contains(where: { $0.utf8.count == lowered.utf8.count && $0.lowercased() == lowered })
            {
                doomed.append(lowered)
            }
        }
        for name in doomed { headers.remove(name: name) }
    }

    /// The request as the sandbox gets it: hop-by-hop headers gone, the target in origin
    /// form, Host and the body's framing set by the proxy alone (never what the client sent
    /// or hid behind `Connection`), `X-Forwarded-*` appended, and an `X-Request-Id` (the
    /// client's, or a new one).
    static func upstreamRequest(
        _ head: HTTPRequestHead,
        _ checked: CheckedRequest,
        clientAddress: String?,
        requestID: String
    ) -> HTTPRequestHead {
        var head = head
        stripHopByHop(&head.headers)
        // The proxy answers `expect` itself, and frames and routes the request anew.
        for name in ["expect", "content-length", "host"] { head.headers.remove(name: name) }
        head.version = .http1_1
        head.uri = checked.target
        if let authority = checked.authority { head.headers.add(name: "Host", value: authority) }
        switch checked.framing {
        case .none: break
        case .length(let length): head.headers.add(name: "Content-Length", value: "\(length)")
        case .chunked: head.headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        if let upgrade = checked.upgrade {
            head.headers.add(name: "Connection", value: "Upgrade")
            head.headers.add(name: "Upgrade", value: upgrade)
        }
        if let clientAddress {
            if let existing = head.headers.first(name: "x-forwarded-for") {
                head.headers.replaceOrAdd(name: "X-Forwarded-For", value: "\(existing), \(clientAddress)")
            } else {
                head.headers.add(name: "X-Forwarded-For", value: clientAddress)
            }
        }
        head.headers.add(name: "X-Forwarded-Proto", value: "http")
        if let authority = checked.authority { head.headers.add(name: "X-Forwarded-Host", value: authority) }
        if !head.headers.contains(name: "x-request-id") { head.headers.add(name: "X-Request-Id", value: requestID) }
        return head
    }

    /// The response as the client gets it: hop-by-hop headers gone, and the client's own
    /// keep-alive decision stated.
    static func clientResponse(
        _ head: HTTPResponseHead,
        clientVersion: HTTPVersion,
        keepAlive: Bool
    ) -> HTTPResponseHead {
        var head = head
        stripHopByHop(&head.headers)
        head.version = clientVersion
        if !keepAlive { head.headers.add(name: "Connection", value: "close") }
        return head
    }
}
