import AsyncHTTPClient
import BatonJSON
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// A client of etcd's JSON gateway (`/v3/...`) over SwiftNIO's HTTP client, with every JSON
/// byte through jansson: no gRPC and no protobuf. It tries the endpoints in turn, starting
/// with the one that answered last.
public final class EtcdClient: Sendable {
    public let endpoints: [String]
    private let http: HTTPClient
    private let timeout: TimeAmount
    private let preferred = NIOLockedValueBox(0)

    /// The most an answer (other than a watch's stream) may hold.
    static let maxAnswerBytes = 64 << 20

    /// `endpoints` are base URLs such as `http://127.0.0.1:2379`; `timeout` bounds each call.
    public init(endpoints: [String], timeout: Duration = .seconds(2)) {
        precondition(!endpoints.isEmpty, "etcd needs at least one endpoint")
        self.endpoints = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        let amount = TimeAmount.nanoseconds(
            timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        )
        self.timeout = amount
        http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(timeout: .init(connect: amount))
        )
    }

    /// Closes the client's connections; no call may follow.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Keys

    public func get(_ keys: EtcdKeys, options: EtcdRangeOptions = .init()) async throws(EtcdError) -> EtcdRange {
        try EtcdWire.range(try await call("/v3/kv/range", Self.rangeRequest(keys, options: options)))
    }

    /// Writes `value` under `key`; returns the revision of the write.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], lease: EtcdLeaseID? = nil) async throws(EtcdError) -> Int64 {
        try EtcdWire.revision(try await call("/v3/kv/put", Self.putRequest(key, value, lease: lease)))
    }

    /// Deletes the keys; returns how many there were.
    @discardableResult
    public func delete(_ keys: EtcdKeys) async throws(EtcdError) -> Int64 {
        var request = JSONObject()
        EtcdWire.keys(keys, into: &request)
        return try EtcdWire.int64(try await call("/v3/kv/deleterange", .object(request))["deleted"])
    }

    /// Runs `success` when every comparison holds, `failure` otherwise, atomically.
    public func txn(
        when compares: [EtcdCompare],
        then success: [EtcdOperation],
        else failure: [EtcdOperation] = []
    ) async throws(EtcdError) -> EtcdTxnResult {
        let request: JSON = [
            "compare": .array(compares.map(Self.compare)),
            "success": .array(success.map(Self.operation)),
            "failure": .array(failure.map(Self.operation)),
        ]
        let answer = try await call("/v3/kv/txn", request)
        var reads: [EtcdRange] = []
        for response in answer["responses"]?.arrayValue ?? [] {
            if let range = response["response_range"] { reads.append(try EtcdWire.range(range)) }
        }
        return EtcdTxnResult(
            succeeded: answer["succeeded"]?.boolValue ?? false,
            revision: try EtcdWire.revision(answer),
            reads: reads
        )
    }

    /// Forgets the history before `revision`; a watch from before it ends with `.compacted`.
    public func compact(to revision: Int64) async throws(EtcdError) {
        _ = try await call("/v3/kv/compaction", ["revision": EtcdWire.number(revision), "physical": true])
    }

    // MARK: Leases

    /// A new lease of `ttl`; keys attached to it go when it expires or is revoked.
    public func grant(ttl: Duration) async throws(EtcdError) -> EtcdLeaseID {
        let answer = try await call("/v3/lease/grant", ["TTL": EtcdWire.number(max(1, ttl.components.seconds))])
        let id = try EtcdWire.int64(answer["ID"])
        guard id != 0 else { throw .malformed("a lease without an id") }
        return EtcdLeaseID(id)
    }

    /// Renews `lease`; returns its TTL in seconds, 0 when etcd no longer has it.
    public func keepAlive(_ lease: EtcdLeaseID) async throws(EtcdError) -> Int64 {
        let answer = try await call("/v3/lease/keepalive", ["ID": EtcdWire.number(lease.value)])
        return try EtcdWire.int64(answer["result"]?["TTL"])
    }

    public func revoke(_ lease: EtcdLeaseID) async throws(EtcdError) {
        do {
            _ = try await call("/v3/lease/revoke", ["ID": EtcdWire.number(lease.value)])
        } catch .server(let code, _) where code == EtcdError.notFound {
            return  // already gone
        }
    }

    // MARK: Watching

    /// Delivers every change to `keys` after `revision`, in order, until cancelled or until
    /// the watch ends; it ends with `.compacted` when etcd no longer has that history, and
    /// with `.unreachable` or `.watchEnded` when the stream is lost. Runs in the caller's task.
    public func watch(
        _ keys: EtcdKeys,
        after revision: Int64,
        _ deliver: (EtcdWatchBatch) async throws -> Void
    ) async throws {
        var create = Self.rangeFields(keys)
        create["start_revision"] = EtcdWire.number(revision + 1)
        let request: JSON = ["create_request": .object(create)]
        let response = try await send("/v3/watch", request, timeout: timeout)  // bounds the head, not the stream
        guard response.status == .ok else {
            let body = try await response.body.collect(upTo: Self.maxAnswerBytes)
            let answer = try? JSON.parse(body.readableBytesView)
            throw answer.flatMap(EtcdWire.failure) ?? EtcdError.watchEnded(reason: "HTTP \(response.status.code)")
        }
        var lines = JSONLines()
        var parts = response.body.makeAsyncIterator()
        while true {
            let next: ByteBuffer?
            do { next = try await parts.next() } catch {
                if Task.isCancelled { throw CancellationError() }
                throw EtcdError.watchEnded(reason: "\(error)")  // the connection dropped: the caller resumes
            }
            guard let part = next else { break }
            lines.append(part)
            while let line = try lines.next() {
                guard let batch = try Self.watchBatch(line) else { continue }
                try await deliver(batch)
            }
        }
        throw EtcdError.watchEnded(reason: "the stream closed")
    }

    // MARK: Requests

    private static func rangeFields(_ keys: EtcdKeys) -> JSONObject {
        var object = JSONObject()
        EtcdWire.keys(keys, into: &object)
        return object
    }

    private static func rangeRequest(_ keys: EtcdKeys, options: EtcdRangeOptions) -> JSON {
        var object = rangeFields(keys)
        if let limit = options.limit { object["limit"] = EtcdWire.number(limit) }
        if let revision = options.revision { object["revision"] = EtcdWire.number(revision) }
        if let max = options.maxCreateRevision { object["max_create_revision"] = EtcdWire.number(max) }
        switch options.order {
        case nil: break
        case .createRevisionAscending?:
            object["sort_target"] = "CREATE"
            object["sort_order"] = "ASCEND"
        case .createRevisionDescending?:
            object["sort_target"] = "CREATE"
            object["sort_order"] = "DESCEND"
        }
        return .object(object)
    }

    private static func putRequest(_ key: String, _ value: [UInt8], lease: EtcdLeaseID?) -> JSON {
        var object: JSONObject = ["key": EtcdWire.base64(key), "value": EtcdWire.base64(value)]
        if let lease { object["lease"] = EtcdWire.number(lease.value) }
        return .object(object)
    }

    private static func compare(_ compare: EtcdCompare) -> JSON {
        switch compare {
        case .createRevision(let key, let revision):
            [
                "key": EtcdWire.base64(key), "target": "CREATE", "result": "EQUAL",
                "create_revision": EtcdWire.number(revision),
            ]
        case .modRevision(let key, let revision):
            [
                "key": EtcdWire.base64(key), "target": "MOD", "result": "EQUAL",
                "mod_revision": EtcdWire.number(revision),
            ]
        case .value(let key, let value):
            ["key": EtcdWire.base64(key), "target": "VALUE", "result": "EQUAL", "value": EtcdWire.base64(value)]
        }
    }

    private static func operation(_ operation: EtcdOperation) -> JSON {
        switch operation {
        case .put(let key, let value, let lease): ["request_put": putRequest(key, value, lease: lease)]
        case .delete(let keys): ["request_delete_range": .object(rangeFields(keys))]
        case .get(let keys): ["request_range": .object(rangeFields(keys))]
        }
    }

    /// One line of a watch's stream: nil for the line that confirms the watch was made.
    private static func watchBatch(_ line: JSON) throws(EtcdError) -> EtcdWatchBatch? {
        if let failure = line["error"] { throw EtcdWire.failure(failure) ?? .watchEnded(reason: "\(failure)") }
        guard let result = line["result"] else { throw .malformed("a watch line without a result") }
        if result["canceled"]?.boolValue == true {
            let compacted = try EtcdWire.int64(result["compact_revision"])
            if compacted > 0 { throw .compacted(revision: compacted) }
            throw .watchEnded(reason: result["cancel_reason"]?.stringValue ?? "cancelled")
        }
        let events = result["events"]?.arrayValue ?? []
        if events.isEmpty { return nil }
        var batch = EtcdWatchBatch(revision: try EtcdWire.revision(result), events: [])
        for event in events {
            guard let kv = event["kv"] else { throw .malformed("a watch event without a key") }
            let kind: EtcdEvent.Kind = event["type"]?.stringValue == "DELETE" ? .delete : .put
            batch.events.append(EtcdEvent(kind: kind, kv: try EtcdWire.keyValue(kv)))
        }
        return batch
    }

    // MARK: Transport

    /// One unary call: its answer, or the gateway's error as an `EtcdError`.
    private func call(_ path: String, _ request: JSON) async throws(EtcdError) -> JSON {
        let response: HTTPClientResponse
        do {
            response = try await send(path, request, timeout: timeout)
        } catch let error as EtcdError {
            throw error
        } catch {
            throw .unreachable(endpoints: endpoints, reason: "\(error)")
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: Self.maxAnswerBytes)
        } catch {
            throw .unreachable(endpoints: endpoints, reason: "the answer was cut off: \(error)")
        }
        let answer: JSON
        do {
            answer = try JSON.parse(body.readableBytesView)
        } catch {
            throw .malformed("\(error)")
        }
        if response.status != .ok {
            throw EtcdWire.failure(answer) ?? .malformed("HTTP \(response.status.code)")
        }
        return answer
    }

    /// Sends `request` to the endpoints in turn, from the one that answered last, giving each
    /// `timeout` (SwiftNIO's client retries a refused connection until then); the first that
    /// answers at all is kept for the next call.
    private func send(_ path: String, _ request: JSON, timeout: TimeAmount) async throws -> HTTPClientResponse {
        let body: [UInt8]
        do { body = try request.serialized() } catch { throw EtcdError.malformed("\(error)") }
        let first = preferred.withLockedValue { $0 }
        var reasons: [String] = []
        for offset in endpoints.indices {
            let index = (first + offset) % endpoints.count
            var http = HTTPClientRequest(url: endpoints[index] + path)
            http.method = .POST
            http.headers.add(name: "Content-Type", value: "application/json")
            http.body = .bytes(body)
            do {
                let response = try await self.http.execute(http, deadline: .now() + timeout)
                preferred.withLockedValue { $0 = index }
                return response
            } catch {
                reasons.append("\(endpoints[index]): \(error)")
            }
        }
        throw EtcdError.unreachable(endpoints: endpoints, reason: reasons.joined(separator: "; "))
    }
}

/// Splits a watch's stream into JSON documents, one per line.
struct JSONLines {
    private var buffer = ByteBuffer()

    mutating func append(_ part: ByteBuffer) {
        var part = part
        buffer.writeBuffer(&part)
    }

    mutating func next() throws(EtcdError) -> JSON? {
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            let line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytes == 0 { continue }
            do { return try JSON.parse(line.readableBytesView) } catch { throw .malformed("\(error)") }
        }
        buffer.discardReadBytes()
        return nil
    }
}
