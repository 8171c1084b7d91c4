import NIOCore
import NIOHTTP1

/// Steady HTTP load on one app through the ingress: GETs; POSTs to `/echo` that each carry
/// a unique `X-Request-Id` and must come back executed exactly once with their body; and PUTs
/// of 10 KiB whose length and SHA-256 the app must report intact (examples/hello).
public struct LoadGenerator: Sendable {
    public var host: String
    public var port: Int
    public var hostHeader: String
    public var getWorkers = 3
    public var postWorkers = 1
    public var putWorkers = 1
    /// Pause between one worker's requests, so the load stays steady rather than maximal.
    public var pause: Duration = .milliseconds(2)
    public let recorder: LoadRecorder
    /// HTTPS to `port`, when set.
    public var tls: LoadTLS?
    /// Makes this run's request ids its own, so two runs on one machine never share one.
    private let runTag = String(UInt32.random(in: 0...UInt32.max), radix: 36)

    public init(host: String, port: Int, hostHeader: String, recorder: LoadRecorder) {
        self.host = host
        self.port = port
        self.hostHeader = hostHeader
        self.recorder = recorder
    }

    /// Runs until the calling task is cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<getWorkers { group.addTask { await work(kind: "GET", worker: index) } }
            for index in 0..<postWorkers { group.addTask { await work(kind: "POST", worker: index) } }
            for index in 0..<putWorkers { group.addTask { await work(kind: "PUT", worker: index) } }
        }
    }

    private func work(kind: String, worker: Int) async {
        var connection: LoadConnection?
        var sequence = 0
        while !Task.isCancelled {
            sequence += 1
            let started = ContinuousClock.now
            var answer = Answer()
            do {
                if connection?.isActive != true {
                    connection = try await LoadConnection.connect(
                        host: host,
                        port: port,
                        tls: tls.map { ($0, hostHeader: hostHeader) }
                    )
                }
                answer = try await exchange(kind, on: connection!, id: "load-\(runTag)-\(kind)-\(worker)-\(sequence)")
            } catch {
                answer.failure = "socket error: \(error)"
                connection = nil
            }
            recorder.record(
                LoadRecorder.Sample(
                    started: started,
                    latency: .now - started,
                    kind: kind,
                    failure: answer.failure,
                    servedBy: answer.servedBy
                )
            )
            try? await Task.sleep(for: pause)
        }
        await connection?.close()
    }

    private struct Answer {
        /// What was wrong with the answer, or nil.
        var failure: String?
        var servedBy: String?
    }

    private func exchange(_ kind: String, on connection: LoadConnection, id: String) async throws -> Answer {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        headers.add(name: "X-Request-Id", value: id)
        if kind == "GET" {
            let response = try await connection.request(.GET, "/", headers: headers)
            guard response.status == 200 else { return Answer(failure: "GET answered \(response.status)") }
            // "hello from VERSION on port PORT"
            let words = String(buffer: response.body).split(separator: " ")
            return Answer(servedBy: words.count > 2 ? String(words[2]) : nil)
        }
        if kind == "PUT" {
            let response = try await connection.request(
                .PUT,
                "/data",
                headers: headers,
                body: ByteBuffer(string: Self.putBody)
            )
            guard response.status == 200 else { return Answer(failure: "PUT answered \(response.status)") }
            return Answer(
                failure: String(buffer: response.body).hasSuffix(" 10240 \(Self.putDigest)\n")
                    ? nil : "PUT body arrived changed"
            )
        }
        let body = "payload of \(id)"
        let response = try await connection.request(.POST, "/echo", headers: headers, body: ByteBuffer(string: body))
        guard response.status == 200 else { return Answer(failure: "POST answered \(response.status)") }
        guard String(buffer: response.body) == body else { return Answer(failure: "POST body came back changed") }
        let count = response.headers.first(name: "X-Request-Count") ?? "?"
        return Answer(failure: count == "1" ? nil : "POST \(id) was executed \(count) times")
    }

    /// 10 KiB, and the SHA-256 the app reports for it when it arrives whole.
    static let putBody = String(repeating: "0123456789abcdef", count: 640)
    static let putDigest = "94d5d2c9605e967fbd1cb0f7b6247dce1cab2e70452d27a98b6773f2ea084bd5"
}
