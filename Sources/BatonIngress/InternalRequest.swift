import BatonCore
import BatonHTTP1
import NIOCore

/// A request made from inside the host (the `ingress.request` method) rather than by an
/// HTTP client: it goes through the same leases, retries and holds as proxied traffic,
/// to any service of an app, and its whole answer is collected in memory.
public struct InternalResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: ByteBuffer
}

public struct InternalRequestFailed: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension IngressServer {
    /// Sends `method path` to `service` of `app` and returns its answer. The ingress's own
    /// errors (no sandbox, retries exhausted, timeouts) come back as responses with their
    /// status, as they would to an HTTP client.
    public func request(
        app: AppName,
        service: String,
        method: String,
        path: String,
        headers: [(String, String)],
        body: ByteBuffer?,
        timeout: TimeAmount
    ) async throws -> InternalResponse {
        let context = self.context
        let loop = group.next()
        var fields = headers.map { (name: $0.0, value: $0.1) }
        if let body { fields.append(("Content-Length", "\(body.readableBytes)")) }
        guard
            case .success(let (head, framing)) = RequestRewriting.head(
                method: method,
                target: path,
                fields: fields,
                limits: context.configuration.headLimits
            )
        else {
            throw InternalRequestFailed(description: "the request is not valid HTTP/1.1")
        }
        let checked = CheckedRequest(authority: nil, target: path, framing: framing, upgrade: nil)
        return try await loop.flatSubmit { () -> EventLoopFuture<InternalResponse> in
            let promise = loop.makePromise(of: InternalResponse.self)
            let sink = CollectingSink(promise: promise, allocator: ByteBufferAllocator())
            let driver = ExchangeDriver(
                ingress: context,
                eventLoop: loop,
                loop: context.loops.value(for: loop),
                sink: sink
            )
            driver.start(
                ProxyExchange(
                    head: head,
                    checked: checked,
                    app: app,
                    service: service,
                    requestID: head.fields.first(HeadWriter.requestID) ?? ProxyHandler.newRequestID(),
                    configuration: context.configuration,
                    deadline: .nanoseconds(timeout.nanoseconds)
                )
            )
            if let body { driver.received(body) }
            driver.ended()
            // The driver holds its sink weakly; both live until the answer is in.
            return promise.futureResult.assumeIsolated().always { _ in withExtendedLifetime((sink, driver)) {} }
                .nonisolated()
        }.get()
    }
}

/// Collects a response for an internal request.
private final class CollectingSink: ExchangeSink {
    let clientAddress: String? = nil
    private let promise: EventLoopPromise<InternalResponse>
    private let allocator: ByteBufferAllocator
    private var head: ResponseHead?
    private var body: ByteBuffer

    init(promise: EventLoopPromise<InternalResponse>, allocator: ByteBufferAllocator) {
        self.promise = promise
        self.allocator = allocator
        body = allocator.buffer(capacity: 0)
    }

    func sendHead(_ head: ResponseHead, framing: MessageFraming, minorVersion: Int, keepAlive: Bool) {
        self.head = head
    }

    func sendBody(_ body: ByteBuffer) {
        var body = body
        self.body.writeBuffer(&body)
    }

    func flush() {}

    func sendEnd(keepAlive: Bool) {
        guard let head else {
            return promise.fail(InternalRequestFailed(description: "the response ended without a head"))
        }
        promise.succeed(
            InternalResponse(
                status: Int(head.status),
                headers: (0..<head.fields.count).map { (head.fields.name(at: $0), head.fields.value(at: $0)) },
                body: body
            )
        )
    }

    func refuse(_ status: ResponseStatus, _ message: String, minorVersion: Int, retryAfter: Int?) {
        var headers = [("Content-Type", "text/plain; charset=utf-8")]
        if let retryAfter { headers.append(("Retry-After", "\(retryAfter)")) }
        promise.succeed(
            InternalResponse(status: Int(status.code), headers: headers, body: allocator.buffer(string: message + "\n"))
        )
    }

    func abort() {
        promise.fail(InternalRequestFailed(description: "the sandbox cut the response off"))
    }

    func setReading(_ on: Bool) {}

    /// Never asked for: an internal request carries no `Upgrade`.
    func switchProtocols(_ head: ResponseHead, minorVersion: Int, to upstream: UpstreamConnection, lease: Lease) {
        upstream.close()
        promise.fail(InternalRequestFailed(description: "the sandbox switched protocols"))
    }
}
